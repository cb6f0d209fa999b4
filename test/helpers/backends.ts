/**
 * Runs one suite against both backends: `embedded` (a temp SQLite file, no
 * Redis) and `services` (MariaDB/MySQL + Redis). Each test file gets its own
 * database (`parley_t_…`, dropped afterwards) and Redis key prefix (deleted
 * afterwards), so files never see each other's data.
 *
 * BACKENDS=embedded,services picks the backends (default both).
 * TEST_DATABASE_URL (default mysql://root@127.0.0.1:3306) and TEST_REDIS_URL
 * (default redis://127.0.0.1:6379) locate the services. When they cannot be
 * reached the services backend is skipped with one loud line, unless
 * PARLEY_REQUIRE_SERVICES=1, which turns that into a failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { type BuildOptions, buildApp } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createDatabase, type SqlDatabase } from '../../src/infra/db/kysely.ts';
import { migrateToLatest } from '../../src/infra/db/migrate.ts';

export type Backend = 'embedded' | 'services';
type Env = Record<string, string | undefined>;

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REQUIRE_SERVICES = process.env.PARLEY_REQUIRE_SERVICES === '1';
const SELECTED = (process.env.BACKENDS ?? 'embedded,services').split(',').map((b) => b.trim()) as Backend[];

const runId = randomBytes(4).toString('hex');
/** Shared by every instance of a run, as a deployment's instances share theirs. */
export const TEST_JWT_SECRET = randomBytes(32).toString('base64url');

async function servicesProblem(): Promise<string | undefined> {
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => {});
  try {
    const conn = await createConnection({ uri: TEST_DATABASE_URL, connectTimeout: 1500 });
    await conn.end();
  } catch (err) {
    return `MariaDB/MySQL at ${TEST_DATABASE_URL} unreachable (${(err as Error).message})`;
  }
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    return `Redis at ${TEST_REDIS_URL} unreachable (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
  return undefined;
}

const servicesDown = SELECTED.includes('services') ? await servicesProblem() : undefined;

/** For suites outside describeBackends: whether to run the Redis/MySQL variant, or why not. */
export const servicesSkipReason: string | undefined = !SELECTED.includes('services')
  ? 'services backend not selected'
  : servicesDown && !REQUIRE_SERVICES
    ? servicesDown
    : undefined;
if (servicesDown && !REQUIRE_SERVICES) {
  console.warn(
    `\n!!! SERVICES BACKEND SKIPPED: ${servicesDown}. Set PARLEY_REQUIRE_SERVICES=1 to fail instead.\n`,
  );
}

export interface BackendContext {
  readonly backend: Backend;
  /** The environment that points a server at this backend (database, Redis, quiet logs). */
  env(overrides?: Env): Env;
  config(overrides?: Env): Readonly<Config>;
  /** Builds an app on this backend; it is closed after the suite. */
  app(overrides?: Env, options?: BuildOptions): Promise<FastifyInstance>;
  /** Direct SQL access to this backend's database, for assertions and fixtures. */
  sql(): SqlDatabase;
  /** This run's Redis key prefix (services), e.g. for asserting on keys. */
  readonly redisPrefix: string;
}

function backendContext(
  backend: Backend,
): BackendContext & { setUp(): Promise<void>; tearDown(): Promise<void> } {
  const apps: FastifyInstance[] = [];
  const redisPrefix = `parley-test:${runId}:`;
  const dbName = `parley_t_${runId}_${process.pid}`;
  let dir: string | undefined;
  let base: Env = {};
  let sqlDb: SqlDatabase | undefined;

  const ctx = {
    backend,
    redisPrefix,
    env: (overrides: Env = {}) => ({ ...base, ...overrides }),
    config: (overrides: Env = {}) => loadConfig({ ...base, ...overrides }),
    async app(overrides: Env = {}, options: BuildOptions = {}) {
      const app = await buildApp(loadConfig({ ...base, ...overrides }), options);
      apps.push(app);
      return app;
    },
    sql() {
      if (!sqlDb) throw new Error('backend not set up');
      return sqlDb;
    },
    async setUp() {
      if (backend === 'embedded') {
        dir = mkdtempSync(join(tmpdir(), 'parley-test-'));
        base = { DATABASE_URL: `sqlite:${join(dir, 'parley.db')}`, LOG_LEVEL: 'silent' };
      } else {
        const admin = await createConnection({ uri: TEST_DATABASE_URL });
        await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
        await admin.end();
        base = {
          DATABASE_URL: `${TEST_DATABASE_URL.replace(/\/$/, '')}/${dbName}`,
          JWT_SECRET: TEST_JWT_SECRET,
          REDIS_URL: TEST_REDIS_URL,
          REDIS_KEY_PREFIX: redisPrefix,
          LOG_LEVEL: 'silent',
        };
      }
      sqlDb = createDatabase(loadConfig(base).db.primary);
      await migrateToLatest(sqlDb.db);
    },
    async tearDown() {
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await sqlDb?.close();
      if (backend === 'embedded') {
        if (dir) rmSync(dir, { recursive: true, force: true });
        return;
      }
      const admin = await createConnection({ uri: TEST_DATABASE_URL });
      await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
      await admin.end();
      await deleteKeys(TEST_REDIS_URL, `${redisPrefix}*`);
    },
  };
  return ctx;
}

/** Deletes every key matching `pattern` with SCAN (test clean-up only; never on a request path). */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * `describeBackends('rooms', (b) => { it(...) })` registers the suite once per
 * selected backend, with set-up and clean-up around it.
 */
export function describeBackends(
  name: string,
  suite: (ctx: BackendContext) => void,
  options: { only?: Backend[] } = {},
): void {
  for (const backend of SELECTED) {
    if (options.only && !options.only.includes(backend)) continue;
    const title = `${name} [${backend}]`;
    if (backend === 'services' && servicesDown) {
      if (REQUIRE_SERVICES) {
        describe(title, () => {
          it('has its services', () => {
            throw new Error(`PARLEY_REQUIRE_SERVICES=1 but ${servicesDown}`);
          });
        });
      } else {
        describe(title, { skip: servicesDown }, () => {});
      }
      continue;
    }
    describe(title, () => {
      const ctx = backendContext(backend);
      before(() => ctx.setUp());
      after(() => ctx.tearDown());
      suite(ctx);
    });
  }
}
