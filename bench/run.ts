/**
 * `npm run bench`: measures Parley's hot paths against real MariaDB + Redis on
 * loopback, each next to a baseline measured in the same run:
 * - HTTP (bench/load.ts, a wrk-like closed loop: BENCH_CONNECTIONS connections,
 *   BENCH_DURATION s per scenario after a 1 s warm-up) against a bare Fastify
 *   route. The servers measured are pinned to the last CPU and this process
 *   (the load) to the others, unless BENCH_PIN=off or taskset is missing;
 * - the headline: `GET /v1/me` with BENCH_ACCOUNTS (1,000) distinct accounts
 *   in turn — every request carries the next account's token, round-robin over
 *   all of them across all connections, so no two requests in flight share a
 *   session or a budget — next to the minimal stack's `/me` (fast-jwt verify +
 *   `EXISTS` + `GET`, see bench/baseline.ts) over the same accounts, and the
 *   minimal stack answering with Parley's response fields, in BENCH_ROUNDS (15)
 *   interleaved rounds of BENCH_ROUND_DURATION (1.5) s on each of BENCH_COPIES (2)
 *   processes per contender (processes that serve nothing else), after
 *   BENCH_WARM_UP (8) s of unmeasured load on each. Printed: req/s, p50/p99,
 *   the medians of the per-round ratios of req/s and p99 to the minimal stack
 *   (and Parley's to the minimal stack sending the same response fields: what
 *   Parley's own work costs), and the CPU µs per request of the servers
 *   (utime + stime from /proc/<pid>/stat over the measured window, divided by
 *   the requests served),
 *   beside the same figure for the Redis server (its pid from INFO, when it
 *   runs on this machine) and for this process, the load generator. Pinned,
 *   a server has its CPU to itself and its req/s follows its own CPU µs per
 *   request; every round's req/s is printed;
 * - the cross-process stampede figure (cold reads over two processes → SQL queries);
 * - speed-layer micro-benchmarks against bare ioredis doing the same job;
 * - the cost of one password hash (RELIABILITY A2, sequential, no baseline: the bar is absolute).
 * Every load is bounded in time and aimed at 127.0.0.1 only.
 *
 * Environment:
 * - BENCH_DATABASE_URL (default mysql://root@127.0.0.1:3306) and BENCH_REDIS_URL
 *   (default redis://127.0.0.1:6379) locate the services; a throw-away database
 *   and key prefix are created and removed.
 * - BENCH_DURATION (s per scenario, default 10), BENCH_CONNECTIONS (default 100),
 *   BENCH_ACCOUNTS (default 1000).
 * - BENCH_ONLY: a comma-separated subset of the scenario groups, for fast
 *   iterations: `ping` (bare Fastify, first and last), `live` (/health/live),
 *   `me` (the headline: minimal /me, /v1/me over BENCH_ACCOUNTS accounts,
 *   minimal /me again), `me1` (minimal /me and /v1/me with one token on every
 *   connection: the requests of one event-loop turn share their Redis calls),
 *   `users` (/v1/users/:id
 *   warm and cold), `login` (login and /health/live beside it), `stampede`,
 *   `micro`, `rooms` (bench/rooms.ts) and `realtime` (bench/realtime.ts), which
 *   `npm run bench` runs after this file.
 *   Default: all. E.g. `BENCH_ONLY=me npm run bench`.
 * - BENCH_CPU_PROF=<dir>: the headline's first Parley and minimal-stack processes
 *   run with `--cpu-prof`, writing <dir>/parley.cpuprofile and
 *   <dir>/minimal.cpuprofile when they exit (`node bench/profile-top.ts <file>`
 *   summarises one).
 * - BENCH_VARIANTS=<label>=<path/to/server.ts>[|<node flags>][;…]: more Parley
 *   builds (e.g. a copy of src/ with a candidate fix, or this one with other
 *   Node flags such as `|--max-semi-space-size=64`) started beside the current
 *   one, same database, Redis and accounts; each is a contender of every
 *   headline round (BENCH_COPIES processes too), so fixes compare within one run.
 * - BASELINE_ME_REDIS=auto|pipeline: how the minimal /me sends its two commands
 *   (bench/baseline.ts; default auto).
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/infra/db/kysely.ts';
import { migrateToLatest } from '../src/infra/db/migrate.ts';
import { SessionsRepository } from '../src/modules/auth/auth.repository.ts';
import { resolveSigningKey } from '../src/modules/auth/signing-key.ts';
import { AccessTokens } from '../src/modules/auth/tokens.ts';
import { userRow } from '../test/helpers/fixtures.ts';
import { counterValue } from '../test/helpers/process.ts';
import { freePort, waitFor } from '../test/helpers/wait.ts';
import { Pool, request, run, target } from './load.ts';
import { hashCost, microBenchmarks } from './micro.ts';
import { openWorkspace, pin, REDIS_URL } from './workspace.ts';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
/** Accounts (each with its own session) the headline /v1/me scenario rotates through. */
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 1000);
/**
 * The headline runs in rounds: each round measures every contender once (the minimal
 * stack, Parley, the variants, the minimal stack with Parley's response fields), in an
 * order rotated from round to round, and each ratio is taken within its round. A
 * shared machine whose speed drifts during the run (it does, by 30 % and more, here)
 * then weighs on all contenders alike; the headline is the median of the rounds.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const ROUND_DURATION_S = Number(process.env.BENCH_ROUND_DURATION ?? 1.5);
/** Load before each measured window, not measured: JIT, pools, caches, the window's connections. */
const WARM_UP_MS = 1000;
/**
 * Before the headline's first round, each contender runs this long unmeasured: a larger
 * program reaches its steady state later (V8 tiers its hot functions up, the young
 * generation grows to the allocation rate), and a long-running server is measured there.
 */
const HEADLINE_WARM_UP_MS = Number(process.env.BENCH_WARM_UP ?? 8) * 1000;
/**
 * Each headline contender is this many processes of its build, each measured in every round,
 * and a round's figure for it is the mean over them. Two processes of one build, started
 * together and measured in the same rounds, differ by up to 10 % in CPU per request (by 30 %
 * when their connections were renewed every window: docs/speed-layer.md, "Two processes of one
 * build"). With one process a side, that draw moved the headline ratio by as much as its margin.
 */
const COPIES = Math.max(1, Number(process.env.BENCH_COPIES ?? 2));
/** Before each headline window once every contender is warm, on the connections it kept: the loop refills. */
const ROUND_WARM_UP_MS = 250;
/** `rooms` and `realtime` are bench/rooms.ts's and bench/realtime.ts's groups: this file only accepts the names. */
const GROUPS = [
  'ping',
  'live',
  'me',
  'me1',
  'users',
  'login',
  'stampede',
  'micro',
  'rooms',
  'realtime',
] as const;
type Group = (typeof GROUPS)[number];
const ONLY = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((g) => g.trim())
  .filter(Boolean);
for (const g of ONLY) {
  if (!GROUPS.includes(g as Group))
    throw new Error(`BENCH_ONLY: unknown group "${g}" (${GROUPS.join(', ')})`);
}
const selected = (group: Group) => ONLY.length === 0 || ONLY.includes(group);
if (ONLY.length > 0 && ONLY.every((g) => g === 'rooms' || g === 'realtime')) process.exit(0);
const PASSWORD = 'correct horse battery staple';
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface Scenario {
  /** Seconds of load after the warm-up (default BENCH_DURATION). */
  durationS?: number;
  /** Unmeasured load first, ms (default WARM_UP_MS). */
  warmUpMs?: number;
  name: string;
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  /** Defaults to BENCH_CONNECTIONS. */
  connections?: number;
  /** The status every response should have (default 200); anything else counts as a failure. */
  expect?: number;
  headers?: Record<string, string>;
  /** Varies each request: its path (e.g. a fresh id) and/or headers (e.g. another account's token). */
  each?: () => { path?: string; headers?: Record<string, string> };
  /** The requests' bytes, one call per request (e.g. prebuilt, one per account in turn); instead of `each`. */
  requests?: () => Buffer;
  /** Server processes whose CPU time over the measured window is divided by the requests served. */
  cpuOf?: ChildProcess[];
  /** Connections kept from an earlier window and for the next one (default: new ones, closed after). */
  pool?: Pool;
}

interface Result {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  failures: number;
  /** CPU µs (user + system) of `cpuOf` per request served, when asked for. */
  cpuUs?: number;
  /** The same for the Redis server and for this process (the load generator), beside every figure. */
  redisUs?: number;
  clientUs?: number;
}

/** One build measured in every round of the headline: the same route on each of its processes. */
interface Contender {
  key: string;
  name: string;
  copies: { url: string; cpuOf: ChildProcess[] }[];
}

/** A server process started for the bench, and its port. */
interface Server {
  port: number;
  child: ChildProcess;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One table row for a contender's rounds: requests and failures summed, the rest their medians. */
function combined(name: string, results: Result[]): Result {
  const mid = (figure: (r: Result) => number | undefined) => {
    const values = results.map(figure).filter((v): v is number => v !== undefined);
    return values.length > 0 ? median(values) : undefined;
  };
  return {
    name,
    requests: results.reduce((n, r) => n + r.requests, 0),
    failures: results.reduce((n, r) => n + r.failures, 0),
    rps: Math.round(mid((r) => r.rps) ?? 0),
    p50: mid((r) => r.p50) ?? 0,
    p99: mid((r) => r.p99) ?? 0,
    cpuUs: mid((r) => r.cpuUs),
    redisUs: mid((r) => r.redisUs),
    clientUs: mid((r) => r.clientUs),
  };
}

/**
 * A contender's round over its copies: requests and failures summed, rates and latencies
 * averaged, CPU per request weighted by the requests each copy served.
 */
function merged(name: string, results: Result[]): Result {
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const mean = (figure: (r: Result) => number) => results.reduce((n, r) => n + figure(r), 0) / results.length;
  const perRequest = (figure: (r: Result) => number | undefined) =>
    results.some((r) => figure(r) === undefined) || requests === 0
      ? undefined
      : results.reduce((n, r) => n + (figure(r) as number) * r.requests, 0) / requests;
  return {
    name,
    requests,
    failures: results.reduce((n, r) => n + r.failures, 0),
    rps: Math.round(mean((r) => r.rps)),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    cpuUs: perRequest((r) => r.cpuUs),
    redisUs: perRequest((r) => r.redisUs),
    clientUs: perRequest((r) => r.clientUs),
  };
}

/** utime + stime of a process so far, µs (Linux /proc; undefined elsewhere). */
function cpuTimeUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1e6;
  } catch {
    return undefined;
  }
}

function cpuOfAll(children: ChildProcess[]): number | undefined {
  let total = 0;
  for (const child of children) {
    const us = cpuTimeUs(child.pid);
    if (us === undefined) return undefined;
    total += us;
  }
  return total;
}

/** The pid of the Redis server (INFO), once known; its CPU time is read from /proc like the servers'. */
let redisPid: number | undefined;

async function measure(scenario: Scenario): Promise<Result> {
  const {
    name,
    url,
    method = 'GET',
    body,
    each,
    headers = {},
    connections = CONNECTIONS,
    expect = 200,
    cpuOf = [],
    durationS = DURATION_S,
    warmUpMs = WARM_UP_MS,
  } = scenario;
  const { port, path } = target(url);
  const fixed = request(path, { method, headers, body });
  const next = each
    ? () => {
        const varied = each();
        return request(varied.path ?? path, { method, headers: { ...headers, ...varied.headers }, body });
      }
    : (scenario.requests ?? (() => fixed));
  const load = { port, connections, next, expect, pool: scenario.pool };
  await run({ ...load, durationMs: warmUpMs }); // JIT, pools, caches, connections
  const cpuBefore = cpuOfAll(cpuOf);
  const redisBefore = cpuTimeUs(redisPid);
  const clientBefore = process.cpuUsage();
  const r = await run({ ...load, durationMs: durationS * 1000 });
  const cpuAfter = cpuOfAll(cpuOf);
  const redisAfter = cpuTimeUs(redisPid);
  const client = process.cpuUsage(clientBefore);
  const perRequest = (us: number | undefined) =>
    us === undefined || r.requests === 0 ? undefined : us / r.requests;
  return {
    name,
    requests: r.requests,
    rps: r.rps,
    p50: r.p50,
    p99: r.p99,
    failures: r.failures,
    cpuUs: perRequest(
      cpuOf.length === 0 || cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : cpuAfter - cpuBefore,
    ),
    redisUs: perRequest(
      redisBefore === undefined || redisAfter === undefined ? undefined : redisAfter - redisBefore,
    ),
    clientUs: perRequest(client.user + client.system),
  };
}

/**
 * RELIABILITY A8's absolute figure: 100 back-to-back pairs of a wrong password for
 * the bench account and an unknown email, in alternating order, one at a time.
 */
async function timingParity(app: string): Promise<{ median: number; gap: number }> {
  const attempt = async (email: string) => {
    const started = performance.now();
    await fetch(`${app}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'not the bench password' }),
    }).then((r) => r.arrayBuffer());
    return performance.now() - started;
  };
  const known: number[] = [];
  const gaps: number[] = [];
  for (let i = 0; i < 110; i++) {
    const unknown = `nobody-${randomUUID()}@bench.test`;
    let k: number;
    let u: number;
    if (i % 2) {
      k = await attempt('bench@bench.test');
      u = await attempt(unknown);
    } else {
      u = await attempt(unknown);
      k = await attempt('bench@bench.test');
    }
    if (i < 10) continue; // warm-up
    known.push(k);
    gaps.push(k - u);
  }
  return { median: median(known), gap: Math.abs(median(gaps)) };
}

/** A GET of `url` with each account's token in turn, round-robin over all connections (prebuilt bytes). */
function roundRobin(url: string, tokens: string[]): () => Buffer {
  const { path } = target(url);
  const all = tokens.map((t) => request(path, { headers: { authorization: `Bearer ${t}` } }));
  let next = 0;
  return () => {
    const bytes = all[next] as Buffer;
    next = (next + 1) % all.length;
    return bytes;
  };
}

/** Puts the local Redis server's CPU affinity back, once the bench has pinned it. */
let restoreRedis = () => {};
const workspace = await openWorkspace('http');
const { prefix, start } = workspace;

try {
  const env = {
    ...workspace.env,
    // The API budgets stay on (their Redis calls are part of every /v1 request) but must not refuse the load.
    RATE_LIMIT_API_IP: '1000000000/1m',
    RATE_LIMIT_API_USER: '1000000000/1m',
    // The login bench measures hashing: concurrent attempts count before their refund, so limits would refuse.
    RATE_LIMIT_LOGIN_EMAIL_IP: 'off',
    RATE_LIMIT_LOGIN_IP: 'off',
    RATE_LIMIT_LOGIN_ACCOUNT: 'off',
    RATE_LIMIT_REGISTER_IP: 'off',
  };
  const config = loadConfig(env);
  const sqlDb = createDatabase(config.db.primary);
  await migrateToLatest(sqlDb.db);
  const hot = userRow({ display_name: 'Bench' });
  const cold = userRow({ display_name: 'Cold' });
  // The headline accounts are written straight to SQL (users + one session each) and their access
  // tokens signed with the servers' key: exactly what registration leaves behind, minus 1,000 argon2 hashes.
  const access = new AccessTokens(resolveSigningKey(config), config.auth.accessTokenTtlMs);
  const sessions = new SessionsRepository(sqlDb.db);
  const accounts: { token: string; sid: string; user: ReturnType<typeof userRow> }[] = [];
  const now = Date.now();
  for (let i = 0; i < ACCOUNTS; i++) {
    const user = userRow({ display_name: `Bench ${i}`, email: `bench-${i}@bench.test` });
    const sid = randomUUID();
    accounts.push({ token: access.issue(user.id, sid), sid, user });
  }
  for (let i = 0; i < accounts.length; i += 500) {
    const chunk = accounts.slice(i, i + 500);
    await sqlDb.db
      .insertInto('users')
      .values([...(i === 0 ? [hot, cold] : []), ...chunk.map((a) => a.user)])
      .execute();
    for (const a of chunk) {
      await sessions.create({
        id: a.sid,
        user_id: a.user.id,
        refresh_token_hash: randomBytes(32).toString('hex'),
        ip: '127.0.0.1',
        user_agent: 'bench',
        created_at: now,
        last_used_at: now,
        expires_at: now + config.auth.refreshTokenTtlMs,
        absolute_expires_at: now + config.auth.sessionMaxAgeMs,
        revoked_at: null,
        revoked_reason: null,
      });
    }
  }
  await sqlDb.close();

  const ports = [await freePort(), await freePort()];
  const baselineSessionKey = `${prefix}baseline:session:<sid>`;
  const baselineAccountKey = `${prefix}baseline:account:<sub>`;
  const profileDir = process.env.BENCH_CPU_PROF;
  const profiled = (name: string) =>
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  /** `copies` processes of `script`, each on a port of its own; the first one profiled as `name`. */
  const servers = async (
    script: string,
    serverEnv: Record<string, string>,
    copies: number,
    name?: string,
    flags: string[] = [],
  ) => {
    const started: Server[] = [];
    for (let i = 0; i < copies; i++) {
      const port = await freePort();
      const execArgv = i === 0 && name ? profiled(name) : flags;
      started.push({ port, child: start(script, { ...serverEnv, PORT: String(port) }, execArgv) });
    }
    return started;
  };
  const baselineEnv = {
    JWT_SECRET: env.JWT_SECRET,
    REDIS_URL,
    BASELINE_SESSION_KEY: baselineSessionKey,
    BASELINE_ACCOUNT_KEY: baselineAccountKey,
    BASELINE_ME_REDIS: process.env.BASELINE_ME_REDIS ?? 'auto',
  };
  const headlineCopies = selected('me') ? COPIES : 0;
  // The bare baseline and the minimal /me of the other scenarios are the first copy's.
  const baselines = await servers('bench/baseline.ts', baselineEnv, Math.max(1, headlineCopies), 'minimal');
  const { port: basePort, child: baselineProcess } = baselines[0] as Server;
  const parley = ports.map((port) => start('src/server.ts', { ...env, PORT: String(port) }));
  // The headline's Parley processes serve nothing else, as the minimal stack's copies serve nothing
  // else: every contender meets the measured load with the same history.
  const headlineParley = await servers('src/server.ts', env, headlineCopies, 'parley');
  const variants: { label: string; copies: Server[] }[] = [];
  for (const spec of (process.env.BENCH_VARIANTS ?? '').split(';').filter(Boolean)) {
    const equals = spec.indexOf('=');
    const label = spec.slice(0, equals);
    const target = spec.slice(equals + 1);
    const [script, flags] = target.split('|') as [string, string | undefined];
    variants.push({
      label,
      copies: await servers(script, env, headlineCopies, undefined, flags?.split(' ')),
    });
  }
  for (const { port } of baselines) {
    await waitFor(() => fetch(`http://127.0.0.1:${port}/ping`).then((r) => r.ok), { timeoutMs: 90_000 });
  }
  const parleyPorts = [
    ...ports,
    ...[...headlineParley, ...variants.flatMap((v) => v.copies)].map((s) => s.port),
  ];
  for (const port of parleyPorts) {
    await waitFor(() => fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.ok), {
      timeoutMs: 90_000,
    });
  }
  // The servers measured share the last CPU, this process (the load) the others; Redis and the
  // database float. Unpinned, the scheduler now and then sets a server beside the load generator
  // for a while, and that server's req/s drops by 10–20 % for reasons of its own: within one run,
  // two copies of one build differed by as much as the changes being measured.
  const cpus = availableParallelism();
  const loadCpus = cpus === 2 ? '0' : `0-${cpus - 2}`;
  const pinned =
    process.env.BENCH_PIN !== 'off' &&
    cpus >= 2 &&
    pin(process.pid, loadCpus) &&
    [...baselines, ...headlineParley, ...variants.flatMap((v) => v.copies)]
      .map((s) => s.child)
      .concat(parley)
      .every((child) => pin(child.pid, String(cpus - 1)));
  const [app, app2] = ports.map((port) => `http://127.0.0.1:${port}`) as [string, string];
  // The login and one-token scenarios use an account registered through the API (argon2 hash included).
  const registered = await fetch(`${app}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@bench.test', password: PASSWORD, displayName: 'Bench' }),
  });
  const session = (await registered.json()) as { accessToken: string };
  const headers = { authorization: `Bearer ${session.accessToken}` };
  // The minimal /me reads a live-session marker and the account, as Parley's /v1/me answers it.
  const redis = new Redis(REDIS_URL);
  // The Redis server's CPU is measured beside the servers' when it runs on this machine.
  const redisInfo = await redis.info('server');
  redisPid = Number(/process_id:(\d+)/.exec(redisInfo)?.[1]) || undefined;
  // A local Redis joins the load on its CPUs while the bench runs (its own affinity is put back
  // at the end): left floating, the scheduler moves it onto the servers' CPU when the load's is
  // busy, and the server measured then loses a share of its CPU that has nothing to do with it.
  if (pinned && redisPid !== undefined) {
    const mask = /affinity list: (\S+)/.exec(
      execFileSync('taskset', ['-p', '-c', String(redisPid)]).toString(),
    )?.[1];
    // A mask equal to the bench's own pin was left by another bench (one that ran beside this one,
    // or was killed): putting that back would leave Redis pinned for good, so every CPU it is.
    const original = mask === loadCpus ? `0-${cpus - 1}` : mask;
    if (original && pin(redisPid, loadCpus)) {
      restoreRedis = () => pin(redisPid, original);
      // An interrupted bench (Ctrl-C, a timeout) must not leave the shared Redis pinned, nor
      // its servers, database and keys behind.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          restoreRedis();
          void workspace.close().finally(() => process.exit(130));
        });
      }
    }
  }
  const seed = redis.pipeline();
  const claims = JSON.parse(Buffer.from(session.accessToken.split('.')[1] as string, 'base64url').toString());
  const oneTokenAccount = { token: session.accessToken, sid: claims.sid, user: { id: claims.sub } };
  for (const a of [...accounts, oneTokenAccount]) {
    const me = (await (
      await fetch(`${app}/v1/me`, { headers: { authorization: `Bearer ${a.token}` } })
    ).json()) as {
      id: string;
    };
    if (me.id !== a.user.id) throw new Error(`seeded account ${a.user.id} does not authenticate`);
    seed.set(baselineSessionKey.replace('<sid>', a.sid), '1');
    seed.set(baselineAccountKey.replace('<sub>', a.user.id), JSON.stringify(me));
  }
  await seed.exec();
  redis.disconnect();
  for (const url of [app, app2]) await fetch(`${url}/v1/me`, { headers }); // warm the session state
  // Every headline process, of every contender, first serves each account once, one request at a
  // time (as Parley's first process did while the accounts were seeded), before any load.
  const firstPass = async (base: string, path: string) => {
    for (const a of accounts) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${a.token}` } });
      if (!res.ok) throw new Error(`${base}${path}: ${res.status} for a seeded account`);
      await res.arrayBuffer();
    }
  };
  for (const { port } of headlineCopies > 0 ? baselines : [])
    await firstPass(`http://127.0.0.1:${port}`, '/me');
  for (const { port } of [...headlineParley, ...variants.flatMap((v) => v.copies)]) {
    await firstPass(`http://127.0.0.1:${port}`, '/v1/me');
  }

  /** SQL statements (of one verb, or all) executed so far by both Parley processes. */
  const statements = async (labels: Record<string, string> = {}) => {
    let total = 0;
    for (const port of parleyPorts) {
      total += counterValue(
        await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        'parley_sql_queries_total',
        labels,
      );
    }
    return total;
  };

  let stampedeQueries: number | undefined;
  if (selected('stampede')) {
    // Stampede: cold reads of one key split over two processes; count the SQL queries they caused.
    const before = await statements({ verb: 'select' });
    await Promise.all(
      Array.from({ length: 500 }, (_, i) => fetch(`${i % 2 ? app : app2}/v1/users/${cold.id}`, { headers })),
    );
    stampedeQueries = (await statements({ verb: 'select' })) - before;
  }

  // The bare baseline runs first and again after the Parley scenarios; ratios use the faster of the two, so a
  // slow moment of a shared machine during one baseline run cannot flatter them.
  const http: Result[] = [];
  const bare = async (when: string) => {
    if (selected('ping')) {
      http.push(
        await measure({
          name: `bare Fastify GET /ping (baseline, ${when})`,
          url: `http://127.0.0.1:${basePort}/ping`,
        }),
      );
    }
  };
  await bare('first');
  if (selected('live')) http.push(await measure({ name: 'GET /health/live', url: `${app}/health/live` }));

  let headline:
    | {
        contenders: Contender[];
        rounds: Map<string, Result>[];
        cpuByProcess: Map<string, number[]>;
        sqlPerRequest: number;
      }
    | undefined;
  if (selected('me')) {
    const tokens = accounts.map((a) => a.token);
    const on = (servers: Server[], path: string) =>
      servers.map((s) => ({ url: `http://127.0.0.1:${s.port}${path}`, cpuOf: [s.child] }));
    const contenders: Contender[] = [
      {
        key: 'minimal',
        name: `minimal /me, ${ACCOUNTS} accounts in turn (reference)`,
        copies: on(baselines, '/me'),
      },
      {
        key: 'parley',
        name: `GET /v1/me, ${ACCOUNTS} accounts in turn`,
        copies: on(headlineParley, '/v1/me'),
      },
      ...variants.map((v) => ({
        key: v.label,
        name: `GET /v1/me, ${ACCOUNTS} accounts in turn [${v.label}]`,
        copies: on(v.copies, '/v1/me'),
      })),
      {
        // The response fields Parley must send (security headers, request id, RateLimit), alone.
        key: 'fields',
        name: `minimal /me + Parley's response fields, ${ACCOUNTS} accounts in turn`,
        copies: on(baselines, '/me-headers'),
      },
    ];
    // Every process of every contender is one window of a round, in an order rotated from round to round.
    // Each process keeps its load's connections from window to window (wrk keeps its own for a whole run).
    const windows = contenders.flatMap((c) => c.copies.map((copy) => ({ c, copy, pool: new Pool() })));
    const sqlBefore = await statements();
    const rounds: Map<string, Result>[] = [];
    /** Each process's CPU µs per request, round by round (printed: how far copies of one build differ). */
    const cpuByProcess = new Map<string, number[]>(windows.map(({ copy }) => [copy.url, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const byContender = new Map<Contender, Result[]>(contenders.map((c) => [c, []]));
      for (let i = 0; i < windows.length; i++) {
        const { c, copy, pool } = windows[(i + round) % windows.length] as (typeof windows)[number];
        const result = await measure({
          name: c.name,
          ...copy,
          pool,
          requests: roundRobin(copy.url, tokens),
          durationS: ROUND_DURATION_S,
          warmUpMs: round === 0 ? HEADLINE_WARM_UP_MS : ROUND_WARM_UP_MS,
        });
        byContender.get(c)?.push(result);
        cpuByProcess.get(copy.url)?.push(result.cpuUs ?? Number.NaN);
      }
      rounds.push(new Map(contenders.map((c) => [c.key, merged(c.name, byContender.get(c) ?? [])])));
    }
    for (const { pool } of windows) pool.close();
    const parleyRequests = rounds.reduce((n, r) => n + (r.get('parley')?.requests ?? 0), 0);
    headline = {
      contenders,
      rounds,
      cpuByProcess,
      sqlPerRequest: ((await statements()) - sqlBefore) / parleyRequests,
    };
    for (const c of contenders)
      http.push(
        combined(
          c.name,
          rounds.map((r) => r.get(c.key) as Result),
        ),
      );
  }
  if (selected('me1')) {
    const minimalOneToken = await measure({
      name: 'minimal /me, one token on every connection (reference)',
      url: `http://127.0.0.1:${basePort}/me`,
      headers,
      cpuOf: [baselineProcess],
    });
    const oneToken = await measure({
      name: 'GET /v1/me, one token on every connection',
      url: `${app}/v1/me`,
      headers,
      cpuOf: parley,
    });
    http.push(minimalOneToken, oneToken);
  }
  if (selected('users')) {
    http.push(
      await measure({ name: 'GET /v1/users/:id warm (L1 hit)', url: `${app}/v1/users/${hot.id}`, headers }),
      await measure({
        name: 'GET /v1/users/:id cold (SQL PK miss + cache fill)',
        url: app,
        expect: 404,
        headers,
        each: () => ({ path: `/v1/users/${randomUUID()}` }),
      }),
    );
  }
  let loginFigures:
    | {
        parity: { median: number; gap: number };
        liveBesideLogin: Result;
        liveAlone: Result;
        hashing: Awaited<ReturnType<typeof hashCost>>;
      }
    | undefined;
  if (selected('login')) {
    // Login is argon2-bound by design: report its rate, and what it does to a cheap route running beside it.
    const [login, liveBesideLogin] = await Promise.all([
      measure({
        name: 'POST /v1/auth/login (argon2id verify + new session)',
        url: `${app}/v1/auth/login`,
        method: 'POST',
        body: JSON.stringify({ email: 'bench@bench.test', password: PASSWORD }),
        headers: { 'content-type': 'application/json' },
        connections: 16,
      }),
      measure({ name: 'GET /health/live while logins run', url: `${app}/health/live`, connections: 10 }),
    ]);
    const liveAlone = await measure({
      name: 'GET /health/live alone',
      url: `${app}/health/live`,
      connections: 10,
    });
    http.push(login, liveBesideLogin, liveAlone);
    loginFigures = { parity: await timingParity(app), liveBesideLogin, liveAlone, hashing: await hashCost() };
  }
  await bare('last');
  const bareRuns = http.filter((r) => r.name.startsWith('bare'));
  const baseline = bareRuns.length > 0 ? bareRuns.reduce((a, r) => (r.rps > a.rps ? r : a)) : undefined;
  const micro = selected('micro') ? await microBenchmarks(REDIS_URL, prefix, DURATION_S * 200) : [];

  process.stdout.write(
    `\nParley bench — HTTP: ${CONNECTIONS} connections, ${DURATION_S} s per scenario, loopback` +
      `${pinned ? `, servers pinned to CPU ${cpus - 1}, the load${redisPid ? ' and Redis' : ''} to the others` : ', unpinned'}\n`,
  );
  console.table(
    http.map((r) => ({
      scenario: r.name,
      'req/s': r.rps,
      'p50 ms': r.p50.toFixed(2),
      'p99 ms': r.p99.toFixed(2),
      'CPU µs/req': r.cpuUs === undefined ? '' : Math.round(r.cpuUs),
      'Redis µs/req': r.redisUs === undefined ? '' : Math.round(r.redisUs),
      'client µs/req': r.clientUs === undefined ? '' : Math.round(r.clientUs),
      'vs bare': baseline ? (r.rps / baseline.rps).toFixed(2) : '',
      failures: r.failures,
    })),
  );
  if (headline) {
    const { contenders, rounds, cpuByProcess, sqlPerRequest } = headline;
    /** The median over the rounds of a contender's figure divided by the reference's of the same round. */
    const ratio = (key: string, figure: (r: Result) => number | undefined, reference = 'minimal') =>
      median(
        rounds.map(
          (r) =>
            (figure(r.get(key) as Result) ?? Number.NaN) / (figure(r.get(reference) as Result) ?? Number.NaN),
        ),
      ).toFixed(2);
    const cpu = (key: string) => median(rounds.map((r) => r.get(key)?.cpuUs ?? Number.NaN)).toFixed(0);
    process.stdout.write(
      `\nHeadline — GET /v1/me, ${ACCOUNTS} accounts in turn, vs the minimal stack's /me, ${ROUNDS} rounds of ` +
        `${ROUND_DURATION_S} s on each of ${COPIES} processes per contender (medians of the per-round ratios of ` +
        `the processes' means)\n` +
        `  req/s ${ratio('parley', (r) => r.rps)}× (target ≥ 0.90)   p99 ${ratio('parley', (r) => r.p99)}× (target ≤ 1.50)` +
        `   CPU ${cpu('parley')} µs/req (Parley processes) vs ${cpu('minimal')} (minimal)` +
        `   SQL statements per request: ${Number(sqlPerRequest.toPrecision(2))}\n`,
    );
    process.stdout.write(
      `  req/s by round: ${contenders
        .map((c) => `${c.key} ${rounds.map((r) => r.get(c.key)?.rps ?? 0).join(' ')}`)
        .join(' | ')}\n`,
    );
    process.stdout.write(
      `  CPU µs/req by process (median of its rounds): ${contenders
        .map(
          (c) =>
            `${c.key} ${c.copies.map((copy) => median(cpuByProcess.get(copy.url) ?? []).toFixed(0)).join(' ')}`,
        )
        .join(' | ')}\n`,
    );
    for (const c of contenders.slice(2)) {
      process.stdout.write(
        `  ${c.name}: req/s ${ratio(c.key, (r) => r.rps)}×, p99 ${ratio(c.key, (r) => r.p99)}×, CPU ${cpu(c.key)} µs/req\n`,
      );
    }
    // What Parley's own work costs (budget, session state, metrics, hooks): the reference sends the same fields.
    process.stdout.write(
      `  GET /v1/me vs the minimal stack with the same response fields: req/s ${ratio('parley', (r) => r.rps, 'fields')}×, ` +
        `p99 ${ratio('parley', (r) => r.p99, 'fields')}×\n`,
    );
  }
  if (micro.length > 0) {
    process.stdout.write('\nSpeed layer — in-process, 64 concurrent callers\n');
    console.table(
      micro.map((m) => {
        const base = micro.find((b) => b.name === m.baseline);
        return {
          measure: m.name,
          value: m.value,
          unit: m.unit,
          'vs baseline': base ? (m.value / base.value).toFixed(2) : '',
        };
      }),
    );
  }
  if (loginFigures) {
    const { parity, liveBesideLogin, liveAlone, hashing } = loginFigures;
    process.stdout.write(
      `\nA8 timing parity, 100 back-to-back pairs: median wrong-password login ${parity.median.toFixed(2)} ms, ` +
        `median gap to an unknown email ${parity.gap.toFixed(2)} ms (bar: ≤ 5 ms and ≤ 5 %)\n`,
    );
    process.stdout.write(
      `A13: p99 of GET /health/live beside the logins ${liveBesideLogin.p99} ms, alone ${liveAlone.p99} ms ` +
        `(${(liveBesideLogin.p99 / Math.max(liveAlone.p99, 1)).toFixed(2)}×; bar: ≤ 2×)\n`,
    );
    process.stdout.write('\nPassword hashing — one at a time\n');
    console.table(hashing.map((m) => ({ measure: m.name, value: m.value, unit: m.unit })));
  }
  if (stampedeQueries !== undefined) {
    process.stdout.write(
      `\nStampede: 500 concurrent cold reads over 2 processes → ${stampedeQueries} SQL query(ies)\n`,
    );
  }
} finally {
  restoreRedis();
  await workspace.close();
}
