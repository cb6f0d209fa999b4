/**
 * A real OpenID Provider (panva's certified `oidc-provider`) on loopback for
 * tests, with its development login/consent screens, plus a minimal browser
 * that follows redirects with a cookie jar and submits those screens.
 * Accounts: the login name is the account id; an id that contains '@' is also
 * the email, verified unless it starts with "unverified".
 */
import type { Server } from 'node:http';
// oidc-provider ships no type declarations; this helper uses only its constructor and listen().
// @ts-expect-error -- untyped module
import Provider from 'oidc-provider';

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

export async function startProvider(port: number, redirectUri: string): Promise<TestProvider> {
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'parley-test';
  const clientSecret = 'parley-test-secret-0123456789abcdef';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        ...(id.includes('@') && { email: id, email_verified: !id.startsWith('unverified') }),
        name: `Test ${id.split('@')[0]}`,
      }),
    }),
  });
  const server: Server = provider.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Plays the browser from `startUrl` until a response comes back from `stopAt`
 * (the app's callback): follows redirects, keeps cookies per host, signs in
 * as `login` on the provider's login screen and accepts its consent screen.
 */
export async function signInThroughBrowser(
  startUrl: string,
  stopAt: string,
  login: string,
): Promise<Response> {
  const jar = new Map<string, Map<string, string>>();
  const cookieHeader = (url: URL) =>
    [...(jar.get(url.host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  const remember = (url: URL, res: Response) => {
    const cookies = jar.get(url.host) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      cookies.set((pair ?? '').slice(0, eq), (pair ?? '').slice(eq + 1));
    }
    jar.set(url.host, cookies);
  };
  let url = new URL(startUrl);
  let init: RequestInit = {};
  for (let step = 0; step < 20; step++) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...init.headers, cookie: cookieHeader(url) },
    });
    remember(url, res);
    if (url.href.startsWith(stopAt)) return res;
    init = {};
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`unexpected page at ${url}: ${res.status} ${html.slice(0, 200)}`);
    const form = new URLSearchParams({ prompt, ...(prompt === 'login' && { login, password: 'any' }) });
    url = new URL(action.replaceAll('&amp;', '&'), url);
    init = { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error('too many steps');
}
