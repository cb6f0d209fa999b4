/**
 * Room events in real time with the real socket.io-client: what members hear of
 * joins, leaves, kicks, ownership, updates and closes (after the commit), whose
 * sockets follow a user in and out of a room, `typing` (E5, throttle) and the
 * presence audience of room co-members — on one instance in both backends, and
 * across two instances sharing MariaDB and Redis.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'socket.io-client';
import { describeBackends } from '../helpers/backends.ts';
import { listen, type SignedUp, signUp } from '../helpers/fixtures.ts';
import { client, closeSockets, connected, nextEvent, request } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';
import { call, createRoom } from '../modules/rooms/helpers.ts';

interface Heard {
  type: string;
  data: Record<string, unknown>;
  at: string;
}

/** A connected socket of `user` that records the room and typing events it receives. */
async function ear(port: number, user: SignedUp): Promise<{ socket: Socket; heard: Heard[] }> {
  const socket = await connected(client(port, { token: user.accessToken }));
  const heard: Heard[] = [];
  socket.onAny((name: string, event: Heard) => {
    if (name.startsWith('room:') || name === 'typing') heard.push(event);
  });
  return { socket, heard };
}

/**
 * Waits until `socket` received a probe published on `app` after everything before it: the
 * probe travels the same path (the adapter's stream across instances), so what the socket was
 * going to receive before it has arrived.
 */
async function settled(app: FastifyInstance, socket: Socket, userId: string): Promise<void> {
  const probe = nextEvent(socket, 'test:settled');
  app.events.publish('client.deliver', { type: 'test:settled', data: null, to: { users: [userId] } });
  await probe;
}

const types = (heard: Heard[]) => heard.map((h) => h.type);

async function join(app: FastifyInstance, user: SignedUp, roomId: string): Promise<void> {
  const res = await call(app, user, 'POST', `/v1/rooms/${roomId}/join`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

async function post(app: FastifyInstance, user: SignedUp, url: string, payload?: object): Promise<void> {
  const res = await call(app, user, 'POST', url, payload);
  assert.ok(res.status < 300, `${url}: ${res.status} ${JSON.stringify(res.body)}`);
}

describeBackends('room events in real time', (b) => {
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = await b.app();
    port = await listen(app);
  });
  after(closeSockets);

  it('a socket that connects while its user is in a room hears a join made over HTTP; the joiner’s open socket is moved in', async () => {
    const owner = await signUp(app);
    const room = await createRoom(app, owner);
    const o = await ear(port, owner);
    const joiner = await signUp(app);
    const j = await ear(port, joiner);
    const heard = nextEvent<Heard>(o.socket, 'room:member_joined');
    await join(app, joiner, room.id);
    const event = await heard;
    assert.deepEqual(event.data, { roomId: room.id, userId: joiner.userId, role: 'member' });
    assert.ok(Date.parse(event.at) > 0);
    await settled(app, j.socket, joiner.userId);
    assert.deepEqual(types(j.heard), ['room:member_joined'], 'the joiner hears of their own join');
  });

  it('a user who leaves hears their own room:member_left, then nothing more of the room', async () => {
    const owner = await signUp(app);
    const member = await signUp(app);
    const room = await createRoom(app, owner);
    await join(app, member, room.id);
    const o = await ear(port, owner);
    const m = await ear(port, member);
    await post(app, member, `/v1/rooms/${room.id}/leave`);
    const res = await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { topic: 'verbs' });
    assert.equal(res.status, 200);
    await waitFor(() => types(o.heard).includes('room:updated'), { what: 'room:updated' });
    assert.deepEqual(types(o.heard), ['room:member_left', 'room:updated']);
    assert.deepEqual(o.heard[0]?.data, { roomId: room.id, userId: member.userId, reason: 'left' });
    assert.deepEqual(o.heard[1]?.data, { roomId: room.id, changes: { topic: 'verbs' } });
    await settled(app, m.socket, member.userId);
    assert.deepEqual(types(m.heard), ['room:member_left']);
  });

  it('a kicked user hears room:member_kicked and leaves the room’s audience; joining elsewhere moves a member', async () => {
    const owner = await signUp(app);
    const kicked = await signUp(app);
    const mover = await signUp(app);
    const room = await createRoom(app, owner);
    const other = await createRoom(app, await signUp(app), { name: 'Elsewhere' });
    await join(app, kicked, room.id);
    await join(app, mover, room.id);
    const o = await ear(port, owner);
    const k = await ear(port, kicked);
    const mv = await ear(port, mover);
    await post(app, owner, `/v1/rooms/${room.id}/kick`, { userId: kicked.userId });
    await join(app, mover, other.id);
    await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { topic: 'after' });
    await waitFor(() => types(o.heard).includes('room:updated'), { what: 'room:updated' });
    assert.deepEqual(types(o.heard), ['room:member_kicked', 'room:member_left', 'room:updated']);
    assert.deepEqual(o.heard[0]?.data, { roomId: room.id, userId: kicked.userId, by: owner.userId });
    assert.deepEqual(o.heard[1]?.data, { roomId: room.id, userId: mover.userId, reason: 'moved' });
    await settled(app, k.socket, kicked.userId);
    await settled(app, mv.socket, mover.userId);
    assert.deepEqual(types(k.heard), ['room:member_kicked']);
    assert.deepEqual(types(mv.heard), ['room:member_kicked', 'room:member_left', 'room:member_joined']);
    assert.equal(mv.heard[2]?.data.roomId, other.id);
  });

  it('typing reaches the room’s other members only, at most once per 2 s per user and room', async () => {
    const owner = await signUp(app);
    const member = await signUp(app);
    const outsider = await signUp(app);
    const room = await createRoom(app, owner);
    await createRoom(app, outsider, { name: 'Outside' });
    await join(app, member, room.id);
    const o = await ear(port, owner);
    const m = await ear(port, member);
    const x = await ear(port, outsider);
    assert.deepEqual(await request(m.socket, 'typing', { roomId: room.id }), {
      ok: true,
      data: { delivered: true },
    });
    // Within the same 2 s window (SPEC §6): dropped, not an error.
    assert.deepEqual(await request(m.socket, 'typing', { roomId: room.id }), {
      ok: true,
      data: { delivered: false },
    });
    await waitFor(() => o.heard.length > 0, { what: 'typing' });
    for (const [s, u] of [
      [o, owner],
      [m, member],
      [x, outsider],
    ] as const)
      await settled(app, s.socket, u.userId);
    assert.deepEqual(
      o.heard.map(({ type, data }) => ({ type, data })),
      [{ type: 'typing', data: { roomId: room.id, userId: member.userId } }],
    );
    assert.deepEqual(m.heard, [], 'not to the sender');
    assert.deepEqual(x.heard, [], 'not to another room');
  });

  it('E5: a member of room A emitting typing into room B gets an error ack; B’s members receive nothing', async () => {
    const a = await signUp(app);
    const bOwner = await signUp(app);
    const roomA = await createRoom(app, a);
    const roomB = await createRoom(app, bOwner, { name: 'Room B' });
    const inB = await ear(port, bOwner);
    const s = await ear(port, a);
    const reply = await request(s.socket, 'typing', { roomId: roomB.id });
    assert.equal(reply.ok, false);
    assert.equal(reply.error?.code, 'ROOM_NOT_MEMBER');
    assert.equal(
      (await request(s.socket, 'typing', { roomId: 'not-a-room' })).error?.code,
      'VALIDATION_FAILED',
    );
    assert.equal((await request(s.socket, 'typing', { roomId: roomA.id })).ok, true, 'its own room');
    await settled(app, inB.socket, bOwner.userId);
    assert.deepEqual(inB.heard, []);
  });

  it('presence:changed reaches the user’s room co-members', async () => {
    const owner = await signUp(app);
    const member = await signUp(app);
    const room = await createRoom(app, owner);
    await join(app, member, room.id);
    const o = await connected(client(port, { token: owner.accessToken }));
    const statuses: string[] = [];
    o.on('presence:changed', (e: Heard) => {
      if (e.data.userId === member.userId) statuses.push(e.data.status as string);
    });
    const m = await connected(client(port, { token: member.accessToken }));
    await waitFor(() => statuses.length === 1, { what: 'online' });
    m.disconnect();
    await waitFor(() => statuses.length === 2, { what: 'offline' });
    assert.deepEqual(statuses, ['online', 'offline']);
  });
});

describeBackends('room owner grace', (b) => {
  /** ROOM_OWNER_GRACE in these tests; the default is 30 s. */
  const GRACE_MS = 1000;
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = await b.app({ ROOM_OWNER_GRACE: `${GRACE_MS}ms` });
    port = await listen(app);
  });
  after(closeSockets);

  const ownerOf = async (roomId: string, as: SignedUp) =>
    (await call(app, as, 'GET', `/v1/rooms/${roomId}`)).body.ownerId as string;

  it('an owner whose last socket closed and who stays away for ROOM_OWNER_GRACE leaves; the room passes on', async (t) => {
    const owner = await signUp(app);
    const member = await signUp(app);
    const room = await createRoom(app, owner);
    await join(app, member, room.id);
    const tab1 = await connected(client(port, { token: owner.accessToken }));
    const tab2 = await connected(client(port, { token: owner.accessToken }));
    const m = await ear(port, member);
    tab1.disconnect();
    await request(tab2, 'heartbeat');
    const changed = nextEvent<Heard>(m.socket, 'room:owner_changed', 10_000);
    const gone = performance.now();
    tab2.disconnect();
    assert.deepEqual((await changed).data, {
      roomId: room.id,
      ownerId: member.userId,
      previousOwnerId: owner.userId,
    });
    const took = performance.now() - gone;
    t.diagnostic(
      `last owner socket closed → room:owner_changed after ${took.toFixed(0)} ms (grace ${GRACE_MS} ms)`,
    );
    assert.ok(took >= GRACE_MS, `not before the grace: ${took}`);
    assert.deepEqual(types(m.heard), ['room:member_left', 'room:owner_changed']);
    assert.equal(m.heard[0]?.data.userId, owner.userId);
    assert.equal(await ownerOf(room.id, member), member.userId);
  });

  it('an owner back within the grace keeps the room; a member who goes away keeps their place', async () => {
    const owner = await signUp(app);
    const member = await signUp(app);
    const room = await createRoom(app, owner);
    await join(app, member, room.id);
    const m = await connected(client(port, { token: member.accessToken }));
    (await connected(client(port, { token: owner.accessToken }))).disconnect();
    const status = async () =>
      (
        (await call(app, owner, 'GET', `/v1/presence?ids=${owner.userId}`)).body.items as { status: string }[]
      )[0]?.status;
    await waitFor(async () => (await status()) === 'offline', { what: 'the owner offline' });
    const back = await connected(client(port, { token: owner.accessToken }));
    m.disconnect();
    // An absence: wait out twice the grace, then nothing may have changed.
    const started = performance.now();
    await waitFor(() => performance.now() - started > 2 * GRACE_MS, { timeoutMs: 5 * GRACE_MS });
    assert.equal(await ownerOf(room.id, owner), owner.userId);
    assert.equal((await call(app, member, 'GET', '/v1/me/room')).body.id, room.id);
    back.disconnect();
  });
});

describeBackends(
  'room events across instances',
  (b) => {
    let a: FastifyInstance;
    let bApp: FastifyInstance;
    let portA: number;
    let portB: number;
    before(async () => {
      const env = { ROOM_OWNER_GRACE: '1s' };
      a = await b.app(env);
      bApp = await b.app(env);
      portA = await listen(a);
      portB = await listen(bApp);
    });
    after(closeSockets);

    it('a member on B hears joins made over HTTP on A, the owner’s leaving (room:owner_changed) and the close', async (t) => {
      const owner = await signUp(a);
      const member = await signUp(a);
      const room = await createRoom(a, owner);
      await join(a, member, room.id);
      const m = await ear(portB, member);
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const joiner = await signUp(a);
        const heard = nextEvent<Heard>(m.socket, 'room:member_joined');
        const started = performance.now();
        await join(a, joiner, room.id);
        assert.equal((await heard).data.userId, joiner.userId);
        latencies.push(performance.now() - started);
      }
      t.diagnostic(
        `HTTP join on A → room:member_joined on B: ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`,
      );
      const ownerChanged = nextEvent<Heard>(m.socket, 'room:owner_changed');
      await post(a, owner, `/v1/rooms/${room.id}/leave`);
      // The longest-present member inherits (SPEC §5).
      assert.deepEqual((await ownerChanged).data, {
        roomId: room.id,
        ownerId: member.userId,
        previousOwnerId: owner.userId,
      });
      const closed = nextEvent<Heard>(m.socket, 'room:closed');
      assert.equal((await call(a, member, 'DELETE', `/v1/rooms/${room.id}`)).status < 300, true);
      assert.deepEqual((await closed).data, { roomId: room.id, reason: 'closed' });
    });

    it('a user who leaves stops hearing the room on both instances; a co-member on B hears their presence from A', async () => {
      const owner = await signUp(a);
      const leaver = await signUp(a);
      const room = await createRoom(a, owner);
      await join(a, leaver, room.id);
      const o = await ear(portB, owner);
      const presence: string[] = [];
      o.socket.on('presence:changed', (e: Heard) => {
        if (e.data.userId === leaver.userId) presence.push(e.data.status as string);
      });
      // The leaver's first socket is on A: the online transition happens there.
      const lA = await ear(portA, leaver);
      await waitFor(() => presence.includes('online'), { what: 'presence on the other instance' });
      const l = await ear(portB, leaver);
      await post(a, leaver, `/v1/rooms/${room.id}/leave`);
      await call(a, owner, 'PATCH', `/v1/rooms/${room.id}`, { topic: 'later' });
      await waitFor(() => types(o.heard).includes('room:updated'), { what: 'room:updated' });
      await settled(a, l.socket, leaver.userId);
      assert.deepEqual(types(l.heard), ['room:member_left']);
      await settled(a, lA.socket, leaver.userId);
      assert.deepEqual(types(lA.heard), ['room:member_left']);
      // The typing of a former member reaches nobody.
      assert.equal((await request(l.socket, 'typing', { roomId: room.id })).error?.code, 'ROOM_NOT_MEMBER');
    });

    it('an owner away on both instances leaves once, after the grace, wherever their last socket was', async () => {
      const owner = await signUp(a);
      const member = await signUp(a);
      const room = await createRoom(a, owner);
      await join(a, member, room.id);
      const onA = await connected(client(portA, { token: owner.accessToken }));
      const onB = await connected(client(portB, { token: owner.accessToken }));
      const mA = await ear(portA, member);
      const mB = await ear(portB, member);
      onA.disconnect();
      await request(onB, 'heartbeat');
      const changed = nextEvent<Heard>(mA.socket, 'room:owner_changed', 10_000);
      onB.disconnect();
      assert.equal((await changed).data.ownerId, member.userId);
      // Past a second grace: no instance leaves again.
      const started = performance.now();
      await waitFor(() => performance.now() - started > 2000, { timeoutMs: 5000 });
      for (const [app, listener] of [
        [a, mA],
        [bApp, mB],
      ] as const) {
        await settled(app, listener.socket, member.userId);
        assert.deepEqual(types(listener.heard), ['room:member_left', 'room:owner_changed']);
      }
    });
  },
  { only: ['services'] },
);
