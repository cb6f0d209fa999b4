/**
 * Sign-in with Google or any OpenID Connect issuer: authorization-code flow
 * with PKCE (S256), state and nonce (openid-client), the flow kept in SQL so
 * any instance can finish it. The ID token's issuer, audience, expiry, nonce
 * and signature are checked by openid-client against the issuer's discovery
 * document and JWKS. Linking: an existing (provider, subject) identity signs
 * its user in; otherwise a *verified* email links to the account that has it,
 * or creates one; an unverified email never takes over an existing account.
 */
import * as oidc from 'openid-client';
import type { Config, OidcProvider } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { ClientContext } from '../../principal.ts';
import { displayNameOr, normalizeEmail, type UserRow, type UsersService } from '../users/index.ts';
import { OidcErrors } from './auth.errors.ts';
import type { AuthResult, AuthService } from './auth.service.ts';
import type { OidcRepository } from './oidc.repository.ts';

const FLOW_TTL_MS = 10 * 60_000;

/** What we use of the ID token / UserInfo claims. */
type Claims = { sub: string; email?: unknown; email_verified?: unknown; name?: unknown };

export interface OidcServiceDeps {
  config: Config['oidc'];
  flows: OidcRepository;
  users: UsersService;
  auth: AuthService;
}

export class OidcService {
  readonly #d: OidcServiceDeps;
  readonly #discovered = new Map<string, Promise<oidc.Configuration>>();

  constructor(deps: OidcServiceDeps) {
    this.#d = deps;
  }

  /** Starts a sign-in: returns the provider URL to send the browser to. */
  async start(name: string): Promise<URL> {
    const config = await this.#configuration(name);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const verifier = oidc.randomPKCECodeVerifier();
    await this.#d.flows.saveFlow({
      state,
      provider: name,
      code_verifier: verifier,
      nonce,
      created_at: Date.now(),
    });
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.#redirectUri(name),
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
  }

  /** Completes a sign-in from the provider's redirect (`callbackUrl` is the full URL it called). */
  async callback(name: string, callbackUrl: URL, client: ClientContext): Promise<AuthResult> {
    const config = await this.#configuration(name);
    const state = callbackUrl.searchParams.get('state') ?? '';
    const flow = await this.#d.flows.takeFlow(state, Date.now() - FLOW_TTL_MS);
    if (!flow || flow.provider !== name) throw new AppError(OidcErrors.AUTH_OIDC_FLOW_INVALID);
    let claims: Claims;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: flow.code_verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims() as oidc.IDToken;
      // Some issuers put email in the ID token (Google), others only in UserInfo; the
      // UserInfo response must be about the same subject (checked by openid-client).
      claims =
        typeof idToken.email === 'string'
          ? idToken
          : { ...(await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub)), sub: idToken.sub };
    } catch (err) {
      throw new AppError(OidcErrors.AUTH_OIDC_FAILED, undefined, { cause: err });
    }
    const user = await this.#userFor(name, claims);
    return this.#d.auth.signIn(user, client, `oidc:${name}`);
  }

  async #userFor(provider: string, claims: Claims): Promise<UserRow> {
    const subject = claims.sub;
    const linked = await this.#d.flows.findUserIdByIdentity(provider, subject);
    if (linked) {
      const user = await this.#d.users.findById(linked);
      if (user) return user;
    }
    const email = typeof claims.email === 'string' ? normalizeEmail(claims.email) : undefined;
    const verified = claims.email_verified === true;
    if (!email) throw new AppError(OidcErrors.AUTH_OIDC_FAILED, 'The provider shared no valid email address');
    const existing = await this.#d.users.findByEmail(email);
    if (existing && !verified) throw new AppError(OidcErrors.AUTH_OIDC_EMAIL_UNVERIFIED);
    const user =
      existing ??
      (await this.#d.users.create({
        email,
        // A provider's name that breaks the text policy must not block the sign-in.
        displayName: displayNameOr(claims.name, displayNameOr(email.split('@')[0], 'user')),
        passwordHash: null,
        emailVerified: verified,
      }));
    // Undefined when a concurrent sign-up took the email an instant ago: starting again takes the paths above.
    if (!user) throw new AppError(OidcErrors.AUTH_OIDC_FAILED);
    await this.#d.flows.link({ userId: user.id, provider, subject, email });
    return user;
  }

  #provider(name: string): OidcProvider {
    const provider = this.#d.config.providers[name];
    if (!provider) throw new AppError(OidcErrors.AUTH_OIDC_PROVIDER_UNKNOWN);
    return provider;
  }

  #redirectUri(name: string): string {
    return `${this.#d.config.publicUrl}/v1/auth/oidc/${name}/callback`;
  }

  /** Discovery, once per provider (retried after a failure). */
  #configuration(name: string): Promise<oidc.Configuration> {
    const provider = this.#provider(name);
    let discovered = this.#discovered.get(name);
    if (!discovered) {
      // Plain http is accepted only for loopback issuers (config refuses it elsewhere).
      const insecure = provider.issuer.startsWith('http://');
      discovered = oidc
        .discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, {
          execute: insecure ? [oidc.allowInsecureRequests] : [],
        })
        .catch((err: unknown) => {
          this.#discovered.delete(name);
          throw new AppError(OidcErrors.AUTH_OIDC_FAILED, 'The identity provider is unreachable', {
            cause: err,
          });
        });
      this.#discovered.set(name, discovered);
    }
    return discovered;
  }
}
