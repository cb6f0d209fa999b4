/**
 * Connection-state recovery (SPEC §6) with the real socket.io-client: a socket
 * whose transport drops and that reconnects within the window gets the events
 * emitted meanwhile, keeps its rooms and is `recovered` — on one instance in both
 * backends, and with the events published on another instance (services).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'socket.io-client';
import { describeBackends } from '../helpers/backends.ts';
import { listen, type SignedUp, signUp } from '../helpers/fixtures.ts';
import { client, closeSockets, connected, disconnected, nextEvent } from '../helpers/sockets.ts';
import { call, createRoom } from '../modules/rooms/helpers.ts';

interface Heard {
  type: string;
  data: Record<string, unknown>;
}

async function join(app: FastifyInstance, user: SignedUp, roomId: string): Promise<void> {
  const res = await call(app, user, 'POST', `/v1/rooms/${roomId}/join`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/**
 * Drops the socket's transport as a network loss would (the server sees a transport close,
 * which it keeps a session for; the client calls it a forced close), runs `meanwhile`, then reconnects as the client's manager
 * does after its back-off; resolves once connected again.
 */
async function dropAndReconnect(socket: Socket, meanwhile: () => Promise<void>): Promise<void> {
  const gone = disconnected(socket);
  socket.io.engine.close();
  assert.equal(await gone, 'forced close');
  await meanwhile();
  socket.connect();
  await connected(socket);
}

describeBackends('connection-state recovery', (b) => {
  let a: FastifyInstance;
  let other: FastifyInstance;
  let portA: number;
  before(async () => {
    a = await b.app();
    // Services: a second instance on the same MariaDB and Redis publishes what the socket misses.
    other = b.backend === 'services' ? await b.app() : a;
    portA = await listen(a);
  });
  after(closeSockets);

  it('a socket whose transport drops gets the room:member_joined emitted while it was away, once, and is recovered', async () => {
    const owner = await signUp(a);
    const room = await createRoom(a, owner);
    const socket = await connected(client(portA, { token: owner.accessToken }));
    assert.equal(socket.recovered, false);
    const heard: Heard[] = [];
    socket.onAny((name: string, event: Heard) => {
      if (name === 'room:member_joined') heard.push(event);
    });
    // The client resumes from the offset of the last event it received.
    const first = await signUp(a);
    const firstHeard = nextEvent(socket, 'room:member_joined');
    await join(a, first, room.id);
    await firstHeard;

    const second = await signUp(other);
    const missed = nextEvent<Heard>(socket, 'room:member_joined');
    await dropAndReconnect(socket, () => join(other, second, room.id));
    assert.equal(socket.recovered, true, 'the session is restored, not a new one');
    assert.deepEqual((await missed).data, { roomId: room.id, userId: second.userId, role: 'member' });

    // Its rooms came back with it: a later join reaches it without anything rejoining it.
    const third = await signUp(other);
    const later = nextEvent<Heard>(socket, 'room:member_joined');
    await join(other, third, room.id);
    assert.equal((await later).data.userId, third.userId);
    assert.deepEqual(
      heard.map((h) => h.data.userId),
      [first.userId, second.userId, third.userId],
      'each event once, in order',
    );
  });

  it('a socket that heard nothing but session:welcome (its user already online in another tab) is recovered after a drop, with what it missed', async () => {
    const owner = await signUp(a);
    const room = await createRoom(a, owner);
    const tab1 = client(portA, { token: owner.accessToken });
    const online = nextEvent(tab1, 'presence:changed');
    await connected(tab1);
    await online;
    // The user is online already: this tab's connection is no transition, so no event carries an offset but the welcome.
    const tab2 = client(portA, { token: owner.accessToken });
    const heard: string[] = [];
    tab2.onAny((name: string) => heard.push(name));
    const welcome = nextEvent<Heard>(tab2, 'session:welcome');
    await connected(tab2);
    const { data } = await welcome;
    assert.equal(data.userId, owner.userId);
    assert.ok(Date.parse(data.expiresAt as string) > Date.now(), 'the socket lives until its token expires');
    assert.deepEqual(heard, ['session:welcome']);

    const member = await signUp(other);
    const missed = nextEvent<Heard>(tab2, 'room:member_joined');
    await dropAndReconnect(tab2, () => join(other, member, room.id));
    assert.equal(tab2.recovered, true, 'resumed from the welcome’s offset');
    assert.deepEqual((await missed).data, { roomId: room.id, userId: member.userId, role: 'member' });
  });

  it('a recovered socket still answers to its access token: a session revoked while it was away is refused on reconnect', async () => {
    const u = await signUp(a);
    const socket = await connected(client(portA, { token: u.accessToken }));
    const probe = nextEvent(socket, 'test:probe');
    a.events.publish('client.deliver', { type: 'test:probe', data: null, to: { users: [u.userId] } });
    await probe;
    const gone = disconnected(socket);
    socket.io.engine.close();
    await gone;
    const res = await other.inject({ method: 'POST', url: '/v1/auth/logout', headers: u.headers });
    assert.equal(res.statusCode, 204);
    const refusal = new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('recovered a revoked session')));
      socket.once('connect_error', resolve);
    });
    socket.connect();
    assert.equal((await refusal).data?.code, 'AUTH_UNAUTHENTICATED');
  });
});
