/**
 * `node bench/realtime.ts`: the Socket.IO gateway against real MariaDB + Redis on
 * loopback, beside bare Socket.IO references measured in the same run.
 *
 * - Fan-out across two instances (Redis Streams adapter): 200 clients
 *   (socket.io-client, websocket transport) in 20 rooms of 10, each room's
 *   members split 5 / 5 over the two instances; one `typing` per room every
 *   10 ms, senders rotating through the members (the typing and flood limits
 *   are off for the bench processes: at SPEC's 1 per 2 s a room carries 5/s).
 *   Deliveries/s and emit → receive latency (client emit to another client's
 *   receipt, same clock). Reference: two bare Socket.IO servers with
 *   @socket.io/redis-streams-adapter (no auth, no recovery, rooms joined at the
 *   handshake), same clients, same rate. Target: ≥ 0.8× its deliveries/s and
 *   p99 ≤ 1.5× its p99.
 * - Memory per idle authenticated socket: 5,000 sockets (5,000 users) on one
 *   instance, VmRSS after − before ÷ 5,000 (target ≤ 30 KB), the bare server's
 *   figure beside it.
 * - Handshakes/s: connect + authenticate + disconnect, HANDSHAKE_CONCURRENCY in
 *   flight, against Parley and the bare server.
 *
 * Accounts (users + sessions) are written straight to SQL and their tokens signed
 * with the servers' key, as bench/run.ts does. The references run in children of
 * this same file (BENCH_REALTIME_ROLE=reference). BENCH_DATABASE_URL /
 * BENCH_REDIS_URL locate the services; BENCH_DURATION (s, default 10) bounds each
 * measured window. `npm run bench` runs it after bench/rooms.ts; with BENCH_ONLY
 * set, it runs only when the list names `realtime`. A throw-away database and key
 * prefix are created and removed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/infra/db/kysely.ts';
import { migrateToLatest } from '../src/infra/db/migrate.ts';
import { resolveSigningKey } from '../src/modules/auth/signing-key.ts';
import { AccessTokens } from '../src/modules/auth/tokens.ts';
import { userRow } from '../test/helpers/fixtures.ts';
import { freePort, waitFor } from '../test/helpers/wait.ts';
import { openWorkspace, REDIS_URL } from './workspace.ts';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const ONLY = process.env.BENCH_ONLY?.split(',').map((g) => g.trim());
if (ONLY && !ONLY.includes('realtime') && process.env.BENCH_REALTIME_ROLE !== 'reference') process.exit(0);
const ROOMS = 20;
const PER_ROOM = 10;
const TICK_MS = 10;
const IDLE_SOCKETS = 5000;
const HANDSHAKE_CONCURRENCY = 50;

if (process.env.BENCH_REALTIME_ROLE === 'reference') {
  await reference();
} else {
  await main();
}

/** The yardstick: bare Socket.IO + the Redis Streams adapter; a client names its room at the handshake. */
async function reference(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL as string);
  const server = createServer();
  const io = new Server(server, {
    serveClient: false,
    adapter: createAdapter(redis, { streamName: process.env.REF_STREAM as string }),
  });
  io.on('connection', (socket) => {
    const { room, user } = socket.handshake.auth as { room?: string; user?: string };
    if (room) socket.join(room);
    socket.on('typing', ({ roomId }: { roomId: string }) => {
      socket
        .to(roomId)
        .emit('typing', { type: 'typing', data: { roomId, userId: user }, at: new Date().toISOString() });
    });
  });
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
}

interface Account {
  id: string;
  token: string;
}

interface FanOut {
  name: string;
  deliveries: number;
  perSecond: number;
  expected: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number) : NaN;
}

function rssBytes(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

function connect(url: string, auth: Record<string, string>): Promise<Socket> {
  const socket = connectClient(url, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connect to ${url} timed out`)), 15_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/** Runs `job(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

/**
 * 20 rooms × 10 clients, member m of a room on instance m % 2; every TICK_MS each room's
 * next member emits `typing`. A receipt is matched to its send by (room, sender) order.
 */
async function fanOut(
  name: string,
  urls: [string, string],
  roomIds: string[],
  clientAuth: (room: number, member: number) => Record<string, string>,
  userOf: (room: number, member: number) => string,
): Promise<FanOut> {
  const sends = new Map<string, number[]>();
  const cursors = new Map<string, number>();
  let window: [number, number] = [Infinity, Infinity];
  const latencies: number[] = [];
  let deliveries = 0;
  const heard = new Set<number>();
  const clients = await pool(ROOMS * PER_ROOM, 50, async (i) => {
    const room = Math.floor(i / PER_ROOM);
    const member = i % PER_ROOM;
    const socket = await connect(urls[member % 2] as string, clientAuth(room, member));
    socket.on('typing', (event: { data: { roomId: string; userId: string } }) => {
      const now = performance.now();
      heard.add(i);
      const key = `${event.data.roomId}:${event.data.userId}`;
      const cursorKey = `${i}:${key}`;
      const n = cursors.get(cursorKey) ?? 0;
      cursors.set(cursorKey, n + 1);
      const sent = sends.get(key)?.[n];
      if (sent === undefined || sent < window[0] || sent >= window[1]) return;
      deliveries += 1;
      latencies.push(now - sent);
    });
    return socket;
  });
  try {
    let tick = 0;
    const started = performance.now();
    const send = () => {
      const due = Math.floor((performance.now() - started) / TICK_MS);
      for (; tick <= due; tick++) {
        const member = tick % PER_ROOM;
        for (let room = 0; room < ROOMS; room++) {
          const key = `${roomIds[room]}:${userOf(room, member)}`;
          const list = sends.get(key) ?? [];
          if (list.length === 0) sends.set(key, list);
          list.push(performance.now());
          clients[room * PER_ROOM + member]?.emit('typing', { roomId: roomIds[room] });
        }
      }
    };
    const timer = setInterval(send, TICK_MS);
    try {
      // Warm-up: every client has heard its room (Parley moves sockets into rooms after connect), then 2 s.
      await waitFor(() => heard.size === clients.length, {
        timeoutMs: 20_000,
        what: `${name}: every client hears`,
      });
      await new Promise((r) => setTimeout(r, 2000));
      const from = performance.now();
      window = [from, from + DURATION_S * 1000];
      await new Promise((r) => setTimeout(r, DURATION_S * 1000));
      // Stragglers sent inside the window still count, for up to 2 s.
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      clearInterval(timer);
    }
  } finally {
    for (const c of clients) c.close();
  }
  latencies.sort((a, b) => a - b);
  return {
    name,
    deliveries,
    perSecond: Math.round(deliveries / DURATION_S),
    expected: (ROOMS * (PER_ROOM - 1) * 1000) / TICK_MS,
    p50: Number(percentile(latencies, 0.5).toFixed(2)),
    p99: Number(percentile(latencies, 0.99).toFixed(2)),
  };
}

/** VmRSS growth of `pid` per socket over IDLE_SOCKETS idle connections. */
async function memoryPerSocket(
  pid: number | undefined,
  url: string,
  auth: (i: number) => Record<string, string>,
) {
  // Warm-up: JIT and pools, so the first sockets don't carry the server's one-off growth.
  for (const s of await pool(100, 50, (i) => connect(url, auth(i)))) s.close();
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssBytes(pid);
  const sockets = await pool(IDLE_SOCKETS, 50, (i) => connect(url, auth(i)));
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssBytes(pid);
  // Closed 100 per 100 ms: 5,000 disconnects at once overflow the server's SQL pool queue (presence
  // reads each user's current room), which is not what this scenario measures.
  for (let i = 0; i < sockets.length; i += 100) {
    for (const s of sockets.slice(i, i + 100)) s.close();
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1000));
  return { before, after, perSocket: (after - before) / IDLE_SOCKETS };
}

/** Connect + authenticate + disconnect loops, HANDSHAKE_CONCURRENCY in flight, for DURATION_S. */
async function handshakes(url: string, auth: (i: number) => Record<string, string>) {
  const run = async (seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    const times: number[] = [];
    let failures = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: HANDSHAKE_CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const t = performance.now();
          try {
            const s = await connect(url, auth(next++ % IDLE_SOCKETS));
            times.push(performance.now() - t);
            s.close();
          } catch {
            failures += 1;
          }
        }
      }),
    );
    return { times, failures };
  };
  await run(1); // warm-up
  const { times, failures } = await run(DURATION_S);
  times.sort((a, b) => a - b);
  return {
    perSecond: Math.round(times.length / DURATION_S),
    p50: Number(percentile(times, 0.5).toFixed(2)),
    p99: Number(percentile(times, 0.99).toFixed(2)),
    failures,
  };
}

async function main(): Promise<void> {
  const workspace = await openWorkspace('rt');
  const { prefix, start } = workspace;
  try {
    const env = {
      ...workspace.env,
      // 100 typing/s per room means 10/s per sender: past SPEC's 1 per 2 s and the 30 per 10 s flood budget.
      RATE_LIMIT_TYPING_USER_ROOM: 'off',
      RATE_LIMIT_WS_MESSAGE_USER: 'off',
      // Every client comes from 127.0.0.1.
      WS_MAX_SOCKETS_PER_IP: '1000000',
    };
    const config = loadConfig(env);
    const sqlDb = createDatabase(config.db.primary);
    await migrateToLatest(sqlDb.db);
    const { members, idle, roomIds } = await seed(sqlDb.db, config);
    await sqlDb.close();

    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const [p1, p2, r1, r2] = ports as [number, number, number, number];
    const parley = [p1, p2].map((port) => start('src/server.ts', { ...env, PORT: String(port) }));
    const refs = [r1, r2].map((port) =>
      start(import.meta.filename, {
        BENCH_REALTIME_ROLE: 'reference',
        REDIS_URL,
        REF_STREAM: `${prefix}ref:stream`,
        PORT: String(port),
      }),
    );
    await Promise.all(refs.map((c) => once(c, 'message')));
    for (const port of [p1, p2])
      await waitFor(() => fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.ok), {
        timeoutMs: 30_000,
      });
    const parleyUrls: [string, string] = [`http://127.0.0.1:${p1}/v1`, `http://127.0.0.1:${p2}/v1`];
    const refUrls: [string, string] = [`http://127.0.0.1:${r1}`, `http://127.0.0.1:${r2}`];
    const member = (room: number, m: number) => members[room * PER_ROOM + m] as Account;
    const refAuth = (room: number, m: number) => ({ room: roomIds[room] as string, user: `u${room}-${m}` });

    process.stdout.write('fan-out: bare reference…\n');
    const ref1 = await fanOut(
      'bare Socket.IO + streams adapter (reference)',
      refUrls,
      roomIds,
      refAuth,
      (r, m) => `u${r}-${m}`,
    );
    process.stdout.write('fan-out: Parley…\n');
    const mine = await fanOut(
      'Parley, 2 instances (typing)',
      parleyUrls,
      roomIds,
      (r, m) => ({ token: member(r, m).token }),
      (r, m) => member(r, m).id,
    );
    process.stdout.write('fan-out: bare reference, again…\n');
    const ref2 = await fanOut('bare reference, again', refUrls, roomIds, refAuth, (r, m) => `u${r}-${m}`);
    const refRate = Math.max(ref1.perSecond, ref2.perSecond);
    const refP99 = Math.min(ref1.p99, ref2.p99);

    process.stdout.write(`memory: ${IDLE_SOCKETS} idle sockets…\n`);
    const idleAuth = (i: number) => ({ token: (idle[i % idle.length] as Account).token });
    const memParley = await memoryPerSocket(parley[0]?.pid, parleyUrls[0], idleAuth);
    const memRef = await memoryPerSocket(refs[0]?.pid, refUrls[0], () => ({}));

    process.stdout.write('handshakes…\n');
    const hsParley = await handshakes(parleyUrls[1], idleAuth);
    const hsRef = await handshakes(refUrls[1], () => ({}));

    process.stdout.write(
      `\nParley realtime bench — ${ROOMS} rooms × ${PER_ROOM} clients over 2 instances, one typing per room per ${TICK_MS} ms, ${DURATION_S} s windows, loopback\n`,
    );
    console.table(
      [ref1, mine, ref2].map((r) => ({
        scenario: r.name,
        'deliveries/s': r.perSecond,
        expected: r.expected,
        'p50 ms': r.p50,
        'p99 ms': r.p99,
        'vs reference /s': (r.perSecond / refRate).toFixed(2),
        'p99 vs reference': (r.p99 / refP99).toFixed(2),
      })),
    );
    const kb = (b: number) => (b / 1024).toFixed(1);
    console.table([
      {
        scenario: `Parley: ${IDLE_SOCKETS} idle authenticated sockets`,
        'RSS before MB': (memParley.before / 2 ** 20).toFixed(1),
        'RSS after MB': (memParley.after / 2 ** 20).toFixed(1),
        'KB/socket': kb(memParley.perSocket),
      },
      {
        scenario: `bare Socket.IO: ${IDLE_SOCKETS} idle sockets`,
        'RSS before MB': (memRef.before / 2 ** 20).toFixed(1),
        'RSS after MB': (memRef.after / 2 ** 20).toFixed(1),
        'KB/socket': kb(memRef.perSocket),
      },
    ]);
    console.table([
      { scenario: 'Parley handshake (connect + auth + disconnect)', ...hsParley },
      { scenario: 'bare Socket.IO handshake', ...hsRef },
    ]);
    process.stdout.write(
      [
        `fan-out deliveries/s vs the bare reference: ${(mine.perSecond / refRate).toFixed(2)}× (target ≥ 0.80×)`,
        `fan-out p99 vs the bare reference: ${(mine.p99 / refP99).toFixed(2)}× (target ≤ 1.50×)`,
        `memory per idle authenticated socket: ${kb(memParley.perSocket)} KB (target ≤ 30 KB; bare Socket.IO ${kb(memRef.perSocket)} KB)`,
        `handshakes/s (${HANDSHAKE_CONCURRENCY} concurrent): ${hsParley.perSecond} (bare ${hsRef.perSecond}, ${(hsParley.perSecond / hsRef.perSecond).toFixed(2)}×)`,
        '',
      ].join('\n'),
    );
  } finally {
    await workspace.close();
  }
}

/**
 * 20 public rooms of 10 current members (the first one owner), and IDLE_SOCKETS more accounts in no
 * room; every account with one session and its access token signed with the servers' key.
 */
async function seed(db: ReturnType<typeof createDatabase>['db'], config: ReturnType<typeof loadConfig>) {
  const access = new AccessTokens(resolveSigningKey(config), config.auth.accessTokenTtlMs);
  const now = Date.now();
  const users = Array.from({ length: ROOMS * PER_ROOM + IDLE_SOCKETS }, (_, i) =>
    userRow({ display_name: `RT ${i}`, email: `rt-${i}@bench.test` }),
  );
  const sessions = users.map((u) => ({
    id: randomUUID(),
    user_id: u.id,
    refresh_token_hash: randomBytes(32).toString('hex'),
    ip: '127.0.0.1',
    user_agent: 'bench',
    created_at: now,
    last_used_at: now,
    expires_at: now + config.auth.refreshTokenTtlMs,
    absolute_expires_at: now + config.auth.sessionMaxAgeMs,
    revoked_at: null,
    revoked_reason: null,
  }));
  for (let i = 0; i < users.length; i += 500) {
    await db
      .insertInto('users')
      .values(users.slice(i, i + 500))
      .execute();
    await db
      .insertInto('sessions')
      .values(sessions.slice(i, i + 500))
      .execute();
  }
  const rooms = Array.from({ length: ROOMS }, (_, r) => ({
    id: randomUUID(),
    slug: `rt-room-${r}`,
    name: `RT room ${r}`,
    topic: 'Benchmarks',
    language: 'en',
    owner_id: (users[r * PER_ROOM] as { id: string }).id,
    max_participants: 50,
    visibility: 'public' as const,
    status: 'active' as const,
    participant_count: PER_ROOM,
    revision: 1,
    created_at: now,
    closed_at: null,
    last_activity_at: now,
  }));
  await db.insertInto('rooms').values(rooms).execute();
  const memberRows = users.slice(0, ROOMS * PER_ROOM).map((u, i) => ({
    id: randomUUID(),
    room_id: (rooms[Math.floor(i / PER_ROOM)] as { id: string }).id,
    user_id: u.id,
    role: i % PER_ROOM === 0 ? ('owner' as const) : ('member' as const),
    joined_at: now,
    left_at: null,
    left_reason: null,
  }));
  await db.insertInto('room_members').values(memberRows).execute();
  await db
    .insertInto('room_current_member')
    .values(memberRows.map((m) => ({ user_id: m.user_id, room_id: m.room_id, member_id: m.id })))
    .execute();
  const accounts = users.map((u, i) => ({
    id: u.id,
    token: access.issue(u.id, (sessions[i] as { id: string }).id),
  }));
  return {
    members: accounts.slice(0, ROOMS * PER_ROOM),
    idle: accounts.slice(ROOMS * PER_ROOM),
    roomIds: rooms.map((r) => r.id),
  };
}
