/**
 * Membership races, exact across instances (RELIABILITY G3, G6): two server
 * processes on MariaDB + Redis (services), one in-process app on SQLite
 * (embedded). Each scenario fires its requests at once, alternating between
 * the instances, then checks the SQL invariants (helpers.ts): nothing
 * partial, one owner per active room, counts equal to the members present.
 * No request may fail with a 5xx: lock races are retried (G6).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type BackendContext, describeBackends } from '../../helpers/backends.ts';
import { type ServerProcess, startServer } from '../../helpers/process.ts';
import { roomInvariantViolations } from './helpers.ts';

const ENV = {
  RATE_LIMIT_REGISTER_IP: 'off',
  RATE_LIMIT_ROOM_CREATE_USER: 'off',
  RATE_LIMIT_API_IP: 'off',
  RATE_LIMIT_API_USER: 'off',
};

/** Sends requests to instance `i % instances`; answers status and JSON body. */
type Send = (
  i: number,
  method: 'GET' | 'POST',
  url: string,
  token: string,
  body?: object,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface User {
  id: string;
  token: string;
}

function scenarios(b: BackendContext, target: () => Send) {
  const users = async (n: number): Promise<User[]> => {
    const send = target();
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = await send(i, 'POST', '/v1/auth/register', '', {
          email: `${randomUUID()}@example.test`,
          password: 'correct horse battery staple',
          displayName: `Racer ${i}`,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return { id: (res.body.user as { id: string }).id, token: res.body.accessToken as string };
      }),
    );
  };
  const createRoom = async (owner: User, maxParticipants = 50) => {
    const res = await target()(0, 'POST', '/v1/rooms', owner.token, {
      name: 'Race',
      language: 'en',
      maxParticipants,
    });
    assert.equal(res.status, 201);
    return res.body.id as string;
  };
  const consistent = async () => assert.deepEqual(await roomInvariantViolations(b.sql().db), []);

  it('100 users join 10 free seats at once: exactly 10 in, 90 × 409 ROOM_FULL, no 5xx', async () => {
    const [owner, ...racers] = await users(101);
    // Capacity 11 with the owner inside: 10 free seats.
    const roomId = await createRoom(owner as User, 11);
    const send = target();
    const results = await Promise.all(
      racers.map((u, i) => send(i, 'POST', `/v1/rooms/${roomId}/join`, u.token)),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 10);
    assert.equal(results.filter((r) => r.status === 409 && r.body.code === 'ROOM_FULL').length, 90);
    const room = await b
      .sql()
      .db.selectFrom('rooms')
      .selectAll()
      .where('id', '=', roomId)
      .executeTakeFirstOrThrow();
    assert.equal(room.participant_count, 11);
    await consistent();
  });

  it('a user joining two rooms at once ends up in exactly one (20 users)', async () => {
    const [a, c, ...racers] = await users(22);
    const one = await createRoom(a as User);
    const two = await createRoom(c as User);
    const send = target();
    const results = await Promise.all(
      racers.flatMap((u, i) => [
        send(i, 'POST', `/v1/rooms/${one}/join`, u.token),
        send(i + 1, 'POST', `/v1/rooms/${two}/join`, u.token),
      ]),
    );
    assert.deepEqual(
      results.filter((r) => r.status !== 200),
      [],
    );
    for (const u of racers) {
      const stays = await b
        .sql()
        .db.selectFrom('room_members')
        .select('room_id')
        .where('user_id', '=', u.id)
        .where('left_at', 'is', null)
        .execute();
      assert.equal(stays.length, 1, `user ${u.id} is in exactly one room`);
    }
    await consistent();
  });

  it('owners leaving while members join: every room keeps exactly one owner (20 rooms)', async () => {
    const everyone = await users(60);
    const send = target();
    const rooms: { id: string; owner: User; stayer: User; joiner: User }[] = [];
    for (let i = 0; i < 20; i++) {
      const [owner, stayer, joiner] = everyone.slice(i * 3, i * 3 + 3) as [User, User, User];
      const id = await createRoom(owner);
      assert.equal((await send(i, 'POST', `/v1/rooms/${id}/join`, stayer.token)).status, 200);
      rooms.push({ id, owner, stayer, joiner });
    }
    const results = await Promise.all(
      rooms.flatMap((r, i) => [
        send(i, 'POST', `/v1/rooms/${r.id}/leave`, r.owner.token),
        send(i + 1, 'POST', `/v1/rooms/${r.id}/join`, r.joiner.token),
        send(i, 'POST', `/v1/rooms/${r.id}/leave`, r.stayer.token),
      ]),
    );
    assert.deepEqual(
      results.filter((r) => r.status >= 500),
      [],
    );
    await consistent();
  });
}

describeBackends(
  'room races, one in-process app',
  (b) => {
    let app: FastifyInstance;
    before(async () => {
      app = await b.app(ENV);
    });
    scenarios(b, () => async (i, method, url, token, body) => {
      const res = await app.inject({
        method,
        url,
        remoteAddress: `10.1.${i % 250}.1`,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(body && { payload: body }),
      });
      return { status: res.statusCode, body: res.body ? res.json() : {} };
    });
  },
  { only: ['embedded'] },
);

describeBackends(
  'room races, two server processes',
  (b) => {
    const servers: ServerProcess[] = [];
    before(async () => {
      const env = b.env({ ...ENV, LOG_LEVEL: 'warn' });
      servers.push(await startServer(env), await startServer(env));
    });
    after(() => Promise.all(servers.map((s) => s.stop())));
    scenarios(b, () => async (i, method, url, token, body) => {
      const res = await fetch(`${(servers[i % 2] as ServerProcess).url}${url}`, {
        method,
        headers: {
          ...(token && { authorization: `Bearer ${token}` }),
          ...(body && { 'content-type': 'application/json' }),
        },
        ...(body && { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    });
  },
  { only: ['services'] },
);
