/** Test data written straight to SQL (the truth), bypassing the API under test. */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Insertable, Kysely } from 'kysely';
import type { DB, UsersTable } from '../../src/infra/db/schema.ts';

/** A complete users row with a fresh id and email; `overrides` replace any column. */
export function userRow(
  overrides: Partial<Insertable<UsersTable>> = {},
): Insertable<UsersTable> & { id: string } {
  const id = randomUUID();
  const now = Date.now();
  return {
    id,
    email: `${id}@example.test`,
    display_name: 'Test User',
    role: 'user',
    created_at: now,
    updated_at: now,
    email_verified_at: null,
    password_hash: null,
    avatar_url: null,
    disabled_at: null,
    ...overrides,
  };
}

export async function insertUser(db: Kysely<DB>, overrides: Partial<Insertable<UsersTable>> = {}) {
  const row = userRow(overrides);
  await db.insertInto('users').values(row).execute();
  return row;
}

/** Listens on a free loopback port and returns it (for raw-socket and real-client tests). */
export async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as { port: number }).port;
}

export interface SignedUp {
  userId: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  /** `{ authorization: 'Bearer …' }`, for inject/fetch. */
  headers: { authorization: string };
}

let signUps = 0;

/** Registers a fresh account through the API (each from its own address, so the register limit never bites). */
export async function signUp(app: FastifyInstance, displayName = 'Tester'): Promise<SignedUp> {
  signUps += 1;
  const email = `u${Date.now()}-${signUps}-${Math.random().toString(36).slice(2)}@example.test`;
  const password = `correct horse ${signUps} battery staple`;
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    remoteAddress: `10.${signUps % 250}.${Math.floor(signUps / 250) % 250}.${(Date.now() % 250) + 1}`,
    payload: { email, password, displayName },
  });
  if (res.statusCode !== 201) throw new Error(`sign-up failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { user: { id: string }; accessToken: string; refreshToken: string };
  return {
    userId: body.user.id,
    email,
    password,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    headers: { authorization: `Bearer ${body.accessToken}` },
  };
}
