/**
 * `node bench/rooms.ts`: the rooms hot paths against real MariaDB + Redis on
 * loopback, each beside references measured in the same run.
 *
 * - GET /v1/rooms?language= warm, with 1,000 active rooms (200 per language,
 *   5 languages), against a bare Fastify route and against a minimal Fastify +
 *   ioredis reference doing the same read (ZREVRANGE of a language's sorted
 *   set, MGET of the 20 rooms' JSON) — with none of Parley's authentication,
 *   rate limits, cursor, fallback or metrics. Target: ≥ 0.8× the reference.
 * - POST join + leave pairs per second over 1,000 users, and the SQL
 *   statements a join costs (parley_sql_queries_total).
 *
 * The references run in a child of this same file (BENCH_ROOMS_ROLE=reference).
 * BENCH_DATABASE_URL / BENCH_REDIS_URL locate the services (bench/workspace.ts);
 * BENCH_DURATION (s, default 10) and BENCH_CONNECTIONS (default 100) shape the
 * HTTP load. `npm run bench` runs it after bench/run.ts; with BENCH_ONLY set, it
 * runs only when the list names `rooms`. A throw-away database and key prefix are created and removed.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/infra/db/kysely.ts';
import { migrateToLatest } from '../src/infra/db/migrate.ts';
import { userRow } from '../test/helpers/fixtures.ts';
import { counterValue } from '../test/helpers/process.ts';
import { freePort, waitFor } from '../test/helpers/wait.ts';
import { request, run, target } from './load.ts';
import { openWorkspace, REDIS_URL } from './workspace.ts';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const LANGUAGES = ['en', 'es', 'fr', 'de', 'ja'];
const ROOMS = 1000;
const ONLY = process.env.BENCH_ONLY?.split(',').map((g) => g.trim());
if (ONLY && !ONLY.includes('rooms') && process.env.BENCH_ROOMS_ROLE !== 'reference') process.exit(0);
const USERS = 1000;
const PAGE = 20;

if (process.env.BENCH_ROOMS_ROLE === 'reference') {
  await reference();
} else {
  await main();
}

/** The yardsticks: a bare route, and the minimal sorted-set + MGET list over the same rooms. */
async function reference(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL as string);
  const prefix = process.env.REF_PREFIX as string;
  const app = Fastify({ logger: false });
  app.get('/ping', async () => ({ status: 'ok' }));
  app.get<{ Querystring: { language: string } }>('/rooms', async (request, reply) => {
    const ids = await redis.zrevrange(`${prefix}lang:${request.query.language}`, 0, PAGE - 1);
    const rooms = ids.length ? await redis.mget(ids.map((id) => `${prefix}room:${id}`)) : [];
    return reply.type('application/json').send(`{"items":[${rooms.join(',')}],"nextCursor":null}`);
  });
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
  process.send?.('ready');
}

interface Result {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

async function measure(name: string, url: string, headers: Record<string, string> = {}): Promise<Result> {
  const { port, path } = target(url);
  const bytes = request(path, { headers });
  const load = { port, connections: CONNECTIONS, next: () => bytes, expect: 200 };
  await run({ ...load, durationMs: 2000 }); // warm-up: JIT, pools, caches
  const r = await run({ ...load, durationMs: DURATION_S * 1000 });
  return { name, ...r };
}

async function main(): Promise<void> {
  const workspace = await openWorkspace('rooms');
  const { prefix } = workspace;
  const redis = new Redis(REDIS_URL);
  try {
    const env = {
      ...workspace.env,
      // As in bench/run.ts: the API budgets stay on (their Redis calls are part of every request) but never refuse.
      RATE_LIMIT_API_IP: '1000000000/1m',
      RATE_LIMIT_API_USER: '1000000000/1m',
      RATE_LIMIT_REGISTER_IP: 'off',
    };
    const sqlDb = createDatabase(loadConfig(env).db.primary);
    await migrateToLatest(sqlDb.db);
    const views = await seedRooms(sqlDb.db);
    await sqlDb.close();
    // The reference's copy of the same rooms: one sorted set per language, one JSON string per room.
    const ref = `${prefix}ref:`;
    const pipeline = redis.pipeline();
    for (const room of views) {
      pipeline.zadd(
        `${ref}lang:${room.language}`,
        room.participantCount * 2 ** 42 + Date.parse(room.createdAt),
        room.id,
      );
      pipeline.set(`${ref}room:${room.id}`, JSON.stringify(room));
    }
    await pipeline.exec();

    const [refPort, port] = [await freePort(), await freePort()];
    workspace.start(import.meta.filename, {
      BENCH_ROOMS_ROLE: 'reference',
      REDIS_URL,
      REF_PREFIX: ref,
      PORT: String(refPort),
    });
    workspace.start('src/server.ts', { ...env, PORT: String(port) });
    const refUrl = `http://127.0.0.1:${refPort}`;
    const app = `http://127.0.0.1:${port}`;
    await waitFor(() => fetch(`${refUrl}/ping`).then((r) => r.ok), { timeoutMs: 15_000 });
    await waitFor(() => fetch(`${app}/health/live`).then((r) => r.ok), { timeoutMs: 15_000 });

    process.stdout.write(`signing up ${USERS} users…\n`);
    const tokens = await signUpMany(app, USERS);
    const headers = { authorization: `Bearer ${tokens[0]}` };
    const statements = async () =>
      counterValue(await (await fetch(`${app}/metrics`)).text(), 'parley_sql_queries_total', {});

    // Warm list.
    const listUrl = `${app}/v1/rooms?language=en`;
    const first = (await (await fetch(listUrl, { headers })).json()) as { items: unknown[] };
    if (first.items.length !== PAGE) throw new Error(`expected a full page, got ${first.items.length}`);
    const bare1 = await measure('bare Fastify GET /ping (baseline)', `${refUrl}/ping`);
    const reference1 = await measure(
      'minimal Fastify + ioredis ZREVRANGE + MGET (reference)',
      `${refUrl}/rooms?language=en`,
    );
    const sqlBefore = await statements();
    const list = await measure('GET /v1/rooms?language=en warm (1,000 active rooms)', listUrl, headers);
    const sqlPerList = ((await statements()) - sqlBefore) / list.requests;
    const reference2 = await measure('minimal reference, again', `${refUrl}/rooms?language=en`);
    const bare2 = await measure('bare Fastify, again', `${refUrl}/ping`);
    const bare = Math.max(bare1.rps, bare2.rps);
    const referenceRps = Math.max(reference1.rps, reference2.rps);

    // SQL statements per join, counted one at a time: into a room from no room, then from another room.
    const roomIds = views.map((v) => v.id);
    const joinAs = (token: string, roomId: string, action: 'join' | 'leave') =>
      fetch(`${app}/v1/rooms/${roomId}/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
    const countJoins = async (from: number, moving: boolean) => {
      const before = await statements();
      for (let i = from; i < from + 50; i++) {
        const res = await joinAs(
          tokens[i] as string,
          roomIds[(i + (moving ? 500 : 0)) % ROOMS] as string,
          'join',
        );
        if (res.status !== 200) throw new Error(`join answered ${res.status}: ${await res.text()}`);
      }
      return ((await statements()) - before) / 50;
    };
    const sqlPerJoin = await countJoins(0, false);
    const sqlPerMovingJoin = await countJoins(0, true);
    const sqlBeforeLeave = await statements();
    for (let i = 0; i < 50; i++)
      await joinAs(tokens[i] as string, roomIds[(i + 500) % ROOMS] as string, 'leave');
    const sqlPerLeave = ((await statements()) - sqlBeforeLeave) / 50;

    // Join + leave pairs: every user in turn joins a random room and leaves it again.
    const deadline = Date.now() + DURATION_S * 1000;
    let pairs = 0;
    let failures = 0;
    let nextUser = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(CONNECTIONS, 50) }, async () => {
        while (Date.now() < deadline) {
          const token = tokens[nextUser++ % USERS] as string;
          const roomId = roomIds[Math.floor(Math.random() * ROOMS)] as string;
          const joined = await joinAs(token, roomId, 'join');
          await joined.arrayBuffer();
          const left = await joinAs(token, roomId, 'leave');
          await left.arrayBuffer();
          if (joined.status === 200 && left.status === 204) pairs += 1;
          else failures += 1;
        }
      }),
    );
    const pairsPerSecond = Math.round(pairs / ((performance.now() - started) / 1000));

    process.stdout.write(
      `\nParley rooms bench — ${CONNECTIONS} connections, ${DURATION_S} s per scenario, loopback\n`,
    );
    console.table(
      [bare1, reference1, list, reference2, bare2].map((r) => ({
        scenario: r.name,
        'req/s': r.rps,
        'p50 ms': r.p50.toFixed(2),
        'p99 ms': r.p99.toFixed(2),
        'vs bare': (r.rps / bare).toFixed(2),
        'vs reference': (r.rps / referenceRps).toFixed(2),
        failures: r.failures,
      })),
    );
    process.stdout.write(
      [
        `GET /v1/rooms warm vs the minimal reference: ${(list.rps / referenceRps).toFixed(2)}× (target ≥ 0.80×)`,
        `GET /v1/rooms warm: ${sqlPerList.toFixed(3)} SQL statements per request`,
        `POST join + leave: ${pairsPerSecond} pairs/s over ${USERS} users (${failures} failed pairs)`,
        `SQL statements per join: ${sqlPerJoin} (from no room), ${sqlPerMovingJoin} (moving from another room); per leave: ${sqlPerLeave}`,
        '',
      ].join('\n'),
    );
  } finally {
    redis.disconnect();
    await workspace.close();
  }
}

/** 1,000 active public rooms, each with its owner inside, written straight to SQL; returns their API views. */
async function seedRooms(db: ReturnType<typeof createDatabase>['db']) {
  const now = Date.now();
  const owners = Array.from({ length: ROOMS }, () => userRow());
  const rooms = owners.map((owner, i) => ({
    id: randomUUID(),
    slug: `bench-room-${i}`,
    name: `Bench room ${i}`,
    topic: 'Benchmarks',
    language: LANGUAGES[i % LANGUAGES.length] as string,
    owner_id: owner.id,
    max_participants: 50,
    visibility: 'public' as const,
    status: 'active' as const,
    participant_count: 1,
    revision: 1,
    created_at: now - i,
    closed_at: null,
    last_activity_at: now,
  }));
  const members = rooms.map((room) => ({
    id: randomUUID(),
    room_id: room.id,
    user_id: room.owner_id,
    role: 'owner' as const,
    joined_at: room.created_at,
    left_at: null,
    left_reason: null,
  }));
  for (let i = 0; i < ROOMS; i += 250) {
    await db
      .insertInto('users')
      .values(owners.slice(i, i + 250))
      .execute();
    await db
      .insertInto('rooms')
      .values(rooms.slice(i, i + 250))
      .execute();
    await db
      .insertInto('room_members')
      .values(members.slice(i, i + 250))
      .execute();
    await db
      .insertInto('room_current_member')
      .values(
        members.slice(i, i + 250).map((m) => ({ user_id: m.user_id, room_id: m.room_id, member_id: m.id })),
      )
      .execute();
  }
  return rooms.map((r) => ({
    id: r.id,
    slug: r.slug,
    name: r.name,
    topic: r.topic,
    language: r.language,
    visibility: r.visibility,
    status: r.status,
    ownerId: r.owner_id,
    participantCount: r.participant_count,
    maxParticipants: r.max_participants,
    createdAt: new Date(r.created_at).toISOString(),
    lastActivityAt: new Date(r.last_activity_at).toISOString(),
  }));
}

/** Registers `n` accounts through the API, a few at a time (argon2 bounds the rate). */
async function signUpMany(app: string, n: number): Promise<string[]> {
  const tokens: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const res = await fetch(`${app}/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `bench-${i}@bench.test`,
            password: 'correct horse battery staple',
            displayName: `B${i}`,
          }),
        });
        if (res.status !== 201) throw new Error(`sign-up ${i}: ${res.status} ${await res.text()}`);
        tokens[i] = ((await res.json()) as { accessToken: string }).accessToken;
      }
    }),
  );
  return tokens;
}
