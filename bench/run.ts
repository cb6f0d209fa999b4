/**
 * `npm run bench`: measures Parley's hot paths against real MariaDB + Redis on
 * loopback, each next to a baseline measured in the same run:
 * - HTTP (autocannon, BENCH_CONNECTIONS connections, BENCH_DURATION s per
 *   scenario after a 2 s warm-up) against a bare Fastify route;
 * - the cross-process stampede figure (cold reads over two processes → SQL queries);
 * - speed-layer micro-benchmarks against bare ioredis doing the same job;
 * - the cost of one password hash (RELIABILITY A2, sequential, no baseline: the bar is absolute).
 * Every load is bounded in time and aimed at 127.0.0.1 only.
 *
 * BENCH_DATABASE_URL (default mysql://root@127.0.0.1:3306) and BENCH_REDIS_URL
 * (default redis://127.0.0.1:6379) locate the services; a throw-away database
 * and key prefix are created and removed.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/infra/db/kysely.ts';
import { migrateToLatest } from '../src/infra/db/migrate.ts';
import { deleteKeys } from '../test/helpers/backends.ts';
import { insertUser } from '../test/helpers/fixtures.ts';
import { counterValue } from '../test/helpers/process.ts';
import { freePort, waitFor } from '../test/helpers/wait.ts';
import { hashCost, microBenchmarks } from './micro.ts';

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const PASSWORD = 'correct horse battery staple';
/** Accounts signed in for the many-accounts /v1/me scenario. */
const ACCOUNTS = 100;

interface Scenario {
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
}

interface Result {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

async function measure(scenario: Scenario): Promise<Result> {
  const {
    name,
    url,
    method = 'GET',
    body,
    each,
    headers,
    connections = CONNECTIONS,
    expect = 200,
  } = scenario;
  const requests = each && [
    {
      setupRequest: (req: autocannon.Request) => {
        const next = each();
        return { ...req, ...next, headers: { ...req.headers, ...next.headers } };
      },
    },
  ];
  const options = { url, method, body, headers, connections, requests };
  await autocannon({ ...options, duration: 2 }); // warm-up: JIT, pools, caches
  const r = await autocannon({ ...options, duration: DURATION_S });
  return {
    name,
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    failures:
      r.errors + r.timeouts + (r.requests.total - (r.statusCodeStats?.[String(expect) as '200']?.count ?? 0)),
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
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
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

function start(script: string, env: Record<string, string>): ChildProcess {
  const child = fork(script, [], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'inherit' });
  child.on('error', () => {});
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

const runId = randomBytes(4).toString('hex');
const dbName = `parley_bench_${runId}`;
const prefix = `parley-bench:${runId}:`;
const admin = await createConnection({ uri: DATABASE_URL });
await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
const children: ChildProcess[] = [];

try {
  const env = {
    DATABASE_URL: `${DATABASE_URL.replace(/\/$/, '')}/${dbName}`,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'warn',
    // The API budgets stay on (their Redis calls are part of every /v1 request) but must not refuse the load.
    RATE_LIMIT_API_IP: '1000000000/1m',
    RATE_LIMIT_API_USER: '1000000000/1m',
    // The login bench measures hashing: concurrent attempts count before their refund, so limits would refuse.
    RATE_LIMIT_LOGIN_EMAIL_IP: 'off',
    RATE_LIMIT_LOGIN_IP: 'off',
    RATE_LIMIT_LOGIN_ACCOUNT: 'off',
    RATE_LIMIT_REGISTER_IP: 'off', // the bench signs up ACCOUNTS accounts from one address
  };
  const sqlDb = createDatabase(loadConfig(env).db.primary);
  await migrateToLatest(sqlDb.db);
  const { id: hotId } = await insertUser(sqlDb.db, { display_name: 'Bench' });
  const { id: coldId } = await insertUser(sqlDb.db, { display_name: 'Cold' });
  await sqlDb.close();

  const basePort = await freePort();
  const ports = [await freePort(), await freePort()];
  const baselineSessionKey = `${prefix}baseline:session:<sid>`;
  children.push(
    start('bench/baseline.ts', {
      PORT: String(basePort),
      JWT_SECRET: env.JWT_SECRET,
      REDIS_URL,
      BASELINE_SESSION_KEY: baselineSessionKey,
    }),
  );
  for (const port of ports) children.push(start('src/server.ts', { ...env, PORT: String(port) }));
  await waitFor(() => fetch(`http://127.0.0.1:${basePort}/ping`).then((r) => r.ok), { timeoutMs: 15_000 });
  for (const port of ports) {
    await waitFor(() => fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.ok), {
      timeoutMs: 15_000,
    });
  }
  const [app, app2] = ports.map((port) => `http://127.0.0.1:${port}`) as [string, string];
  const registered = await fetch(`${app}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'bench@bench.test',
      password: PASSWORD,
      displayName: 'Bench',
    }),
  });
  const session = (await registered.json()) as { accessToken: string; user: object };
  const headers = { authorization: `Bearer ${session.accessToken}` };
  // The minimal /me reads the account from one Redis key per session id.
  const { sid } = JSON.parse(
    Buffer.from(session.accessToken.split('.')[1] as string, 'base64url').toString(),
  );
  const redis = new Redis(REDIS_URL);
  await redis.set(baselineSessionKey.replace('<sid>', sid), JSON.stringify(session.user));
  redis.disconnect();
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const res = await fetch(`${app}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `bench-${i}@bench.test`, password: PASSWORD, displayName: `Bench ${i}` }),
    });
    accounts.push(((await res.json()) as { accessToken: string }).accessToken);
  }
  for (const url of [app, app2]) await fetch(`${url}/v1/me`, { headers }); // warm the session state

  /** SQL statements (of one verb, or all) executed so far by both Parley processes. */
  const statements = async (labels: Record<string, string> = {}) => {
    let total = 0;
    for (const url of [app, app2]) {
      total += counterValue(await (await fetch(`${url}/metrics`)).text(), 'parley_sql_queries_total', labels);
    }
    return total;
  };
  const selects = () => statements({ verb: 'select' });
  // Stampede: cold reads of one key split over two processes; count the SQL queries they caused.
  const before = await selects();
  await Promise.all(
    Array.from({ length: 500 }, (_, i) => fetch(`${i % 2 ? app : app2}/v1/users/${coldId}`, { headers })),
  );
  const stampedeQueries = (await selects()) - before;

  // The baseline runs first and again after the Parley scenarios; ratios use the faster of the two, so a
  // slow moment of a shared machine during one baseline run cannot flatter them.
  const bare = (when: string) =>
    measure({ name: `bare Fastify GET /ping (baseline, ${when})`, url: `http://127.0.0.1:${basePort}/ping` });
  const http = [await bare('first'), await measure({ name: 'GET /health/live', url: `${app}/health/live` })];
  const sqlBeforeMe = await statements();
  const meResult = await measure({
    name: 'GET /v1/me (JWT + session state + account)',
    url: `${app}/v1/me`,
    headers,
  });
  const sqlPerMe = (await statements()) - sqlBeforeMe;
  const minimalMe = await measure({
    name: 'minimal /me: fast-jwt + 1 ioredis GET (reference)',
    url: `http://127.0.0.1:${basePort}/me`,
    headers,
  });
  // The same read with nothing shared between requests: each one is another account's session and budget.
  let next = 0;
  const manyAccounts = await measure({
    name: `GET /v1/me, ${accounts.length} accounts in turn`,
    url: `${app}/v1/me`,
    each: () => ({ headers: { authorization: `Bearer ${accounts[next++ % accounts.length]}` } }),
  });
  http.push(
    meResult,
    minimalMe,
    manyAccounts,
    await measure({ name: 'GET /v1/users/:id warm (L1 hit)', url: `${app}/v1/users/${hotId}`, headers }),
    await measure({
      name: 'GET /v1/users/:id cold (SQL PK miss + cache fill)',
      url: app,
      expect: 404,
      headers,
      each: () => ({ path: `/v1/users/${randomUUID()}` }),
    }),
  );
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
  http.push(login, liveBesideLogin, liveAlone, await bare('last'));
  const parity = await timingParity(app);
  const baseline = http.filter((r) => r.name.startsWith('bare')).reduce((a, r) => (r.rps > a.rps ? r : a));
  const micro = await microBenchmarks(REDIS_URL, prefix, DURATION_S * 200);
  const hashing = await hashCost();

  process.stdout.write(
    `\nParley bench — HTTP: ${CONNECTIONS} connections, ${DURATION_S} s per scenario, loopback\n`,
  );
  console.table(
    http.map((r) => ({
      scenario: r.name,
      'req/s': r.rps,
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      'vs baseline': (r.rps / baseline.rps).toFixed(2),
      failures: r.failures,
    })),
  );
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
  process.stdout.write(
    `\nStampede: 500 concurrent cold reads over 2 processes → ${stampedeQueries} SQL query(ies)\n`,
  );
  process.stdout.write(`GET /v1/me, warm: ${sqlPerMe} SQL statements in ${meResult.requests} requests\n`);
  process.stdout.write(
    `GET /v1/me vs the minimal /me of the same run: ${(meResult.rps / minimalMe.rps).toFixed(2)}\n`,
  );
} finally {
  await Promise.all(children.map(stop));
  await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
  await admin.end();
  await deleteKeys(REDIS_URL, `${prefix}*`);
}
