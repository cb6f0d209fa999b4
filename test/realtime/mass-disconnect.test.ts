/**
 * Many sockets going at once (a network drop, a peer instance's users lapsing): every
 * room co-member still hears each offline transition, and the owner grace still ends
 * as before, while the SQL behind them stays a few statements — the audiences of one
 * turn are read in one query, the lastSeenAt times written in one, the graces that end
 * together checked in one or two — not one (or several) per user, which queued the pool.
 * @see issue #12
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'socket.io-client';
import { describeBackends } from '../helpers/backends.ts';
import { insertUser, listen } from '../helpers/fixtures.ts';
import { client, closeSockets, connected, disconnected, nextEvent } from '../helpers/sockets.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOMS = 10;
const MEMBERS_PER_ROOM = 20;
/** ROOM_OWNER_GRACE here (default 30 s). */
const GRACE = '2s';
/** Far above what the batching needs (measured: a handful); one query per user would be ≥ 200. */
const MAX_STATEMENTS = 20;
/** With the graces' end and one owner leaving (a transaction) on top (measured: 19–24); unbatched ≥ 600. */
const MAX_STATEMENTS_WITH_GRACES = 60;

interface PresenceChanged {
  data: { userId: string; status: 'online' | 'offline'; lastSeenAt: string | null };
}

/** SQL statements this instance has run so far (parley_sql_queries_total, every verb and outcome). */
async function statements(app: FastifyInstance): Promise<number> {
  const { body } = await app.inject({ url: '/metrics' });
  let total = 0;
  for (const match of body.matchAll(/^parley_sql_queries_total\{[^}]*\} (\d+)/gm)) total += Number(match[1]);
  return total;
}

describeBackends('presence when many sockets disconnect at once', (b) => {
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    // Every client shares 127.0.0.1.
    app = await b.app({ WS_MAX_SOCKETS_PER_IP: '1000', ROOM_OWNER_GRACE: GRACE });
    port = await listen(app);
  });
  after(closeSockets);

  async function account(): Promise<{ userId: string; token: string }> {
    const user = await app.users.findById((await insertUser(b.sql().db)).id);
    assert.ok(user);
    const session = await app.auth.signIn(user, { ip: '127.0.0.1', userAgent: undefined }, 'test');
    return { userId: user.id, token: session.accessToken };
  }

  it(`${ROOMS * MEMBERS_PER_ROOM} users dropping at once: each room's watcher hears exactly its members go offline, their graces end with no change; SQL stays bounded`, async () => {
    const rooms: { id: string; memberIds: Set<string>; heard: PresenceChanged['data'][] }[] = [];
    const members: { userId: string; token: string }[] = [];
    const ownerChanges: string[] = [];
    for (let r = 0; r < ROOMS; r++) {
      const owner = await account();
      const { room } = await app.rooms.change(owner.userId, {
        type: 'create',
        name: `Mass ${r}`,
        language: 'en',
        maxParticipants: MEMBERS_PER_ROOM + 1,
      });
      const entry = { id: room.id, memberIds: new Set<string>(), heard: [] as PresenceChanged['data'][] };
      for (let m = 0; m < MEMBERS_PER_ROOM; m++) {
        const member = await account();
        await app.rooms.change(member.userId, { type: 'join', roomId: room.id });
        entry.memberIds.add(member.userId);
        members.push(member);
      }
      // The owner watches and stays: the members' graces must end without changing the room.
      const watcher = await connected(client(port, { token: owner.token }));
      watcher.on('presence:changed', (e: PresenceChanged) => entry.heard.push(e.data));
      watcher.on('room:owner_changed', () => ownerChanges.push(room.id));
      rooms.push(entry);
    }
    // The sentinel owner goes after everyone else, so their grace ends last: when their room
    // passes on, every earlier grace has been dealt with (one batch at a time, in order).
    const sentinel = await account();
    const heir = await account();
    const { room: sentinelRoom } = await app.rooms.change(sentinel.userId, {
      type: 'create',
      name: 'Sentinel',
      language: 'en',
    });
    await app.rooms.change(heir.userId, { type: 'join', roomId: sentinelRoom.id });
    const heirSocket = await connected(client(port, { token: heir.token }));
    const sentinelSocket = await connected(client(port, { token: sentinel.token }));

    const sockets: Socket[] = await Promise.all(
      members.map((m) => connected(client(port, { token: m.token }))),
    );
    // The watcher also hears its own online transition: count its members' only.
    const heardAll = (status: string) =>
      rooms.every(
        (r) =>
          r.heard.filter((h) => h.status === status && r.memberIds.has(h.userId)).length >= MEMBERS_PER_ROOM,
      );
    await waitFor(() => heardAll('online'), { timeoutMs: 20_000, what: 'every member online' });

    const before = await statements(app);
    const gone = sockets.map((s) => disconnected(s));
    for (const s of sockets) s.disconnect();
    await Promise.all(gone);
    await waitFor(() => heardAll('offline'), { timeoutMs: 20_000, what: 'every member offline' });
    await app.presence.flush();
    const used = (await statements(app)) - before;

    for (const room of rooms) {
      const offline = room.heard.filter((h) => h.status === 'offline');
      assert.deepEqual(
        new Set(offline.map((h) => h.userId)),
        room.memberIds,
        'its own members, nobody from another room',
      );
      assert.equal(offline.length, MEMBERS_PER_ROOM, 'each once');
      assert.ok(offline.every((h) => h.lastSeenAt !== null && !Number.isNaN(Date.parse(h.lastSeenAt))));
      const online = room.heard.filter((h) => h.status === 'online' && room.memberIds.has(h.userId));
      assert.equal(online.length, MEMBERS_PER_ROOM, 'no repeated transition');
    }
    const saved = await b
      .sql()
      .db.selectFrom('users')
      .select('id')
      .where(
        'id',
        'in',
        members.map((m) => m.userId),
      )
      .where('last_seen_at', 'is not', null)
      .execute();
    assert.equal(saved.length, members.length, 'every lastSeenAt written');
    console.warn(`# ${members.length} offline transitions: ${used} SQL statements`);
    assert.ok(used <= MAX_STATEMENTS, `${used} SQL statements for ${members.length} offline transitions`);

    const passedOn = nextEvent<{ data: { roomId: string; ownerId: string } }>(
      heirSocket,
      'room:owner_changed',
      20_000,
    );
    sentinelSocket.disconnect();
    assert.deepEqual((await passedOn).data, {
      roomId: sentinelRoom.id,
      ownerId: heir.userId,
      previousOwnerId: sentinel.userId,
    });
    const withGraces = (await statements(app)) - before;
    assert.deepEqual(ownerChanges, [], 'the members’ graces changed no room');
    console.warn(`# ... and their graces' end, with one owner leaving: ${withGraces} SQL statements`);
    assert.ok(withGraces <= MAX_STATEMENTS_WITH_GRACES, `${withGraces} SQL statements with the graces`);
  });
});
