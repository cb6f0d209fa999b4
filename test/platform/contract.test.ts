/**
 * The OpenAPI document is the contract (SPEC §10): every documented operation
 * gets a valid request, and its answer must have a documented status, the
 * documented media type and a body that validates against the documented
 * schema (Ajv, with the document's own components). Operations this test
 * cannot send a valid request are listed in UNREACHABLE with the reason; they
 * still get a request, and their (error) answer is held to the document too.
 * A new operation with neither a request below nor a reason fails the suite.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { type SignedUp, signUp } from '../helpers/fixtures.ts';

interface Operation {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

/** What a valid request needs beyond the method, path and token: path params, body, query. */
interface ValidRequest {
  params?: Record<string, string>;
  body?: unknown;
  query?: Record<string, string>;
  /** The caller; a fresh account when absent (operations that end sessions do not disturb others). */
  as?: SignedUp;
}

/** Operations no valid request can be built for here, with the reason (never skipped silently). */
const UNREACHABLE: Record<string, string> = {
  startOidcSignIn:
    'needs a configured OpenID provider; the redirect flow is tested against a real one in test/modules/auth/oidc.test.ts',
  finishOidcSignIn:
    "needs a provider's authorization code from a browser round trip; tested in test/modules/auth/oidc.test.ts",
};

let serial = 0;
const address = () => `10.77.${Math.floor(++serial / 250) % 250}.${(serial % 250) + 1}`;

describeBackends('OpenAPI contract', (b) => {
  let app: FastifyInstance;
  let doc: Doc;
  let ajv: Ajv;

  before(async () => {
    app = await b.app();
    doc = app.swagger() as unknown as Doc;
    ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(ajv);
    ajv.addSchema(doc as object, 'openapi');
  });

  async function validRequests(): Promise<Record<string, () => Promise<ValidRequest>>> {
    const password = 'a perfectly fine passphrase';
    return {
      register: async () => ({
        body: { email: `c${Date.now()}-${++serial}@example.test`, password, displayName: 'Contract' },
      }),
      login: async () => {
        const u = await signUp(app);
        return { body: { email: u.email, password: u.password } };
      },
      refresh: async () => ({ body: { refreshToken: (await signUp(app)).refreshToken } }),
      changePassword: async () => {
        const u = await signUp(app);
        return { as: u, body: { currentPassword: u.password, newPassword: `${password} 2` } };
      },
      updateMe: async () => ({ body: { displayName: 'Renamed' } }),
      getUser: async () => ({ params: { id: (await signUp(app)).userId } }),
      listSessions: async () => ({ query: { limit: '5' } }),
      getPresence: async () => ({ query: { ids: [(await signUp(app)).userId, randomUUID()].join(',') } }),
      listOnlineUsers: async () => ({ query: { limit: '5' } }),
      revokeSession: async () => {
        const u = await signUp(app);
        await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          remoteAddress: address(),
          payload: { email: u.email, password: u.password },
        });
        const list = await app.inject({ url: '/v1/auth/sessions', headers: u.headers });
        const target = (list.json().items as { id: string; current: boolean }[]).find((s) => !s.current);
        assert.ok(target, `a second session to revoke: ${list.body}`);
        return { as: u, params: { id: target.id } };
      },
      deleteMyAccount: async () => {
        const u = await signUp(app);
        return { as: u, body: { password: u.password } };
      },
      ...roomRequests(),
      disableUser: async () => {
        const admin = await signUp(app);
        await b.sql().db.updateTable('users').set({ role: 'admin' }).where('id', '=', admin.userId).execute();
        return { as: admin, params: { id: (await signUp(app)).userId } };
      },
    };
  }

  /** Room operations: each gets a fresh room of its own (owner + optionally a member). */
  function roomRequests(): Record<string, () => Promise<ValidRequest>> {
    const json = (res: Awaited<ReturnType<typeof app.inject>>) => {
      assert.ok(res.statusCode < 300, res.body);
      return res.body === '' ? undefined : res.json();
    };
    const room = async (language = 'es') => {
      const owner = await signUp(app);
      const created = json(
        await app.inject({
          method: 'POST',
          url: '/v1/rooms',
          headers: owner.headers,
          payload: { name: `Contract room ${++serial}`, language },
        }),
      ) as { id: string; slug: string };
      return { owner, ...created };
    };
    const withMember = async () => {
      const r = await room();
      const member = await signUp(app);
      json(await app.inject({ method: 'POST', url: `/v1/rooms/${r.id}/join`, headers: member.headers }));
      return { ...r, member };
    };
    return {
      createRoom: async () => ({ body: { name: `Created ${++serial}`, language: 'fr', topic: 'Verbs' } }),
      listRooms: async () => {
        await room('pt');
        return { query: { language: 'pt', limit: '5' } };
      },
      listRoomLanguages: async () => ({}),
      getRoom: async () => ({ params: { id: (await room()).slug } }),
      updateRoom: async () => {
        const r = await room();
        return { as: r.owner, params: { id: r.id }, body: { topic: 'New topic' } };
      },
      closeRoom: async () => {
        const r = await room();
        return { as: r.owner, params: { id: r.id } };
      },
      joinRoom: async () => ({ params: { id: (await room()).id } }),
      leaveRoom: async () => {
        const r = await withMember();
        return { as: r.member, params: { id: r.id } };
      },
      kickRoomMember: async () => {
        const r = await withMember();
        return { as: r.owner, params: { id: r.id }, body: { userId: r.member.userId } };
      },
      transferRoom: async () => {
        const r = await withMember();
        return { as: r.owner, params: { id: r.id }, body: { userId: r.member.userId } };
      },
      addRoomModerator: async () => {
        const r = await withMember();
        return { as: r.owner, params: { id: r.id }, body: { userId: r.member.userId } };
      },
      removeRoomModerator: async () => {
        const r = await withMember();
        json(
          await app.inject({
            method: 'POST',
            url: `/v1/rooms/${r.id}/moderators`,
            headers: r.owner.headers,
            payload: { userId: r.member.userId },
          }),
        );
        return { as: r.owner, params: { id: r.id, userId: r.member.userId } };
      },
      listRoomParticipants: async () => ({ params: { id: (await withMember()).id }, query: { limit: '10' } }),
      getMyRoom: async () => ({ as: (await room()).owner }),
    };
  }

  function check(
    operation: Operation,
    path: string,
    method: string,
    res: Awaited<ReturnType<typeof app.inject>>,
  ) {
    const label = `${method.toUpperCase()} ${path} → ${res.statusCode} ${res.body.slice(0, 300)}`;
    const documented = operation.responses[String(res.statusCode)];
    assert.ok(documented, `${label}: status not documented (${Object.keys(operation.responses).join(', ')})`);
    const content = documented.content;
    if (!content) {
      assert.equal(res.body, '', `${label}: documented without a body`);
      return;
    }
    const mediaType = String(res.headers['content-type']).split(';')[0] as string;
    assert.ok(content[mediaType], `${label}: media type ${mediaType} not documented`);
    const pointer = [
      'paths',
      path,
      method,
      'responses',
      String(res.statusCode),
      'content',
      mediaType,
      'schema',
    ]
      .map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1'))
      .join('/');
    const validate = ajv.compile({ $ref: `openapi#/${pointer}` });
    assert.ok(validate(res.json()), `${label}: ${ajv.errorsText(validate.errors)}`);
  }

  it('every documented operation answers a valid request with a documented status and body', async () => {
    const requests = await validRequests();
    const seen: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const id = operation.operationId;
        seen.push(id);
        const reason = UNREACHABLE[id];
        const build = requests[id];
        const signedIn = (operation.security ?? []).length > 0;
        assert.ok(
          build || reason || (!operation.requestBody && !operation.parameters?.some((p) => p.in === 'path')),
          `${id}: no valid request and no reason in UNREACHABLE`,
        );
        const valid: ValidRequest = build ? await build() : {};
        const caller = signedIn ? (valid.as ?? (await signUp(app))) : undefined;
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) => valid.params?.[name] ?? 'unknown');
        const res = await app.inject({
          method: method.toUpperCase() as InjectOptions['method'],
          url,
          remoteAddress: address(),
          ...(valid.query && { query: valid.query }),
          ...(caller && { headers: caller.headers }),
          ...(valid.body !== undefined && { payload: valid.body as object }),
        });
        check(operation, path, method, res);
        if (!reason) assert.ok(res.statusCode < 400, `${id}: a valid request failed: ${res.body}`);
      }
    }
    for (const id of [...Object.keys(UNREACHABLE), ...Object.keys(requests)]) {
      assert.ok(seen.includes(id), `${id} is no longer in the document: drop it here`);
    }
  });

  it('documents the errors the platform gives: a schema failure, a missing token, an unknown id', async () => {
    const u = await signUp(app);
    const op = (path: string, method: string) => doc.paths[path]?.[method] as Operation;
    const cases: [string, string, InjectOptions][] = [
      [
        '/v1/me',
        'patch',
        { method: 'PATCH', url: '/v1/me', headers: u.headers, payload: { displayName: 5 } },
      ],
      ['/v1/me', 'get', { url: '/v1/me' }],
      ['/v1/users/{id}', 'get', { url: `/v1/users/${crypto.randomUUID()}`, headers: u.headers }],
      ['/v1/auth/sessions', 'get', { url: '/v1/auth/sessions?cursor=bm9wZQ', headers: u.headers }],
    ];
    for (const [path, method, request] of cases) {
      const res = await app.inject({ ...request, remoteAddress: address() });
      assert.ok(res.statusCode >= 400, res.body);
      check(op(path, method), path, method, res);
    }
  });

  it('the document says which operations are public, and that is what the server does', async () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        assert.ok(operation.security, `${operation.operationId} declares its security`);
        if (!path.startsWith('/v1/')) continue;
        const res = await app.inject({
          method: method.toUpperCase() as InjectOptions['method'],
          url: path.replace(/\{\w+\}/g, crypto.randomUUID()),
          remoteAddress: address(),
        });
        const rejected = res.statusCode === 401 && res.json().code === 'AUTH_UNAUTHENTICATED';
        assert.equal(rejected, operation.security.length > 0, `${operation.operationId}: ${res.body}`);
      }
    }
  });
});
