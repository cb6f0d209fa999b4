/**
 * The one place that reads the environment. `loadConfig(env)` validates every
 * variable at once, reports each bad one by name, and returns a deep-frozen,
 * typed object with durations already parsed to milliseconds. Everything else
 * receives this object; tests build it with `loadConfig({...})`.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type DatabaseConfig =
  | { dialect: 'sqlite'; path: string; url: string }
  | { dialect: 'mysql'; url: string; poolSize: number; connectTimeoutMs: number; statementTimeoutMs: number };

export interface RedisEndpoint {
  host: string;
  port: number;
}

export type RedisTarget =
  | { mode: 'none' }
  | { mode: 'standalone'; url: string }
  | {
      mode: 'sentinel';
      sentinels: RedisEndpoint[];
      name: string;
      password: string | undefined;
      tls: boolean;
    }
  | { mode: 'cluster'; nodes: RedisEndpoint[]; password: string | undefined; tls: boolean };

/** What a rate-limit policy does when Redis cannot be reached (SPEC §7). */
export type RedisDownBehaviour = 'insurance' | 'open' | 'closed';

export interface RateLimitPolicy {
  /** Allowed points per window. */
  points: number;
  durationMs: number;
  /** `insurance`: an in-memory limiter per instance; `open`: let through; `closed`: refuse with 503. */
  whenRedisDown: RedisDownBehaviour;
}

/** SPEC §7 defaults; each is overridable as RATE_LIMIT_<NAME>=points/duration[:insurance|open|closed]. */
export const RATE_LIMIT_DEFAULTS = {
  /**
   * Failed logins per email+IP. The three login policies count verified-wrong passwords
   * only: successes and attempts a login policy refused are refunded (docs/auth.md).
   */
  login_email_ip: { points: 5, durationMs: 15 * 60_000, whenRedisDown: 'insurance' },
  /** Failed logins per IP per day. */
  login_ip: { points: 100, durationMs: 86_400_000, whenRedisDown: 'insurance' },
  /**
   * Failed logins per account from anywhere, per hour (ASVS: ≤ 100 per hour). One email+IP
   * adds at most 5 per 15 min (20 per hour), so no single source can reach it.
   */
  login_account: { points: 100, durationMs: 3_600_000, whenRedisDown: 'insurance' },
  register_ip: { points: 3, durationMs: 60_000, whenRedisDown: 'insurance' },
  refresh_ip: { points: 60, durationMs: 60_000, whenRedisDown: 'insurance' },
  /** Attempts to change the password (wrong current passwords included), per user. */
  password_change_user: { points: 5, durationMs: 15 * 60_000, whenRedisDown: 'insurance' },
  room_create_user: { points: 10, durationMs: 3_600_000, whenRedisDown: 'insurance' },
  /** Budget of every /v1 request per client IP. */
  api_ip: { points: 1200, durationMs: 60_000, whenRedisDown: 'open' },
  /** Budget of every authenticated /v1 request per user. */
  api_user: { points: 600, durationMs: 60_000, whenRedisDown: 'open' },
  ws_message_user: { points: 30, durationMs: 10_000, whenRedisDown: 'insurance' },
  /** `typing` relayed per user and room (SPEC §6: at most one per 2 s); the rest are dropped. */
  typing_user_room: { points: 1, durationMs: 2_000, whenRedisDown: 'insurance' },
} satisfies Record<string, RateLimitPolicy>;

export type RateLimitPolicyName = keyof typeof RATE_LIMIT_DEFAULTS;

export interface OidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  http: {
    host: string;
    port: number;
    /** Default JSON body limit in bytes (SPEC §5: 16 KiB); a route needing more sets its own. */
    bodyLimit: number;
    requestTimeoutMs: number;
    /** Exact origins allowed by CORS; empty = no cross-origin access. */
    corsOrigins: string[];
    /** Passed to Fastify `trustProxy`: false, a hop count or a list of addresses/CIDRs (never `true`). */
    trustProxy: false | number | string[];
  };
  log: { level: LogLevel };
  db: {
    primary: DatabaseConfig;
    /** Apply pending migrations at start-up (default: on for SQLite, off for MySQL where deploys run `npm run migrate`). */
    autoMigrate: boolean;
  };
  redis: RedisTarget & {
    keyPrefix: string;
    /** Request-path commands give up after this long, so a stalled Redis never hangs a request. */
    commandTimeoutMs: number;
  };
  oidc: {
    /** Public base URL of this server; redirect URIs are `<publicUrl>/v1/auth/oidc/<name>/callback`. */
    publicUrl: string;
    providers: Record<string, OidcProvider>;
  };
  /** Policies by name; a policy set to `off` is absent. */
  rateLimits: Partial<Record<RateLimitPolicyName, RateLimitPolicy>>;
  auth: {
    jwtSecret: string | undefined;
    jwtPrivateKey: string | undefined;
    accessTokenTtlMs: number;
    /** Idle timeout of a session: a refresh token unused this long expires. */
    refreshTokenTtlMs: number;
    /** Absolute lifetime of a session, however active. */
    sessionMaxAgeMs: number;
    /** Window in which re-presenting a just-rotated refresh token returns the same successor (0 = strict). */
    refreshReuseGraceMs: number;
    /**
     * Concurrent argon2 computations per instance (default: CPU cores − 1, at least 1); more
     * wait, so a login flood always leaves a core to the event loop.
     */
    passwordHashConcurrency: number;
    /** Users with admin rights besides those whose role is `admin` in SQL (until roles can be granted). */
    adminUserIds: string[];
  };
  realtime: {
    /** A connection not heard from (connect or heartbeat) for this long no longer counts its user online. */
    presenceTtlMs: number;
    /** How often clients send `heartbeat`; below the TTL so one lost heartbeat is not an offline blip. */
    presenceHeartbeatMs: number;
    /** Open sockets per user on one instance (SPEC §6). */
    maxSocketsPerUser: number;
    /** Open sockets per client address on one instance. */
    maxSocketsPerIp: number;
    /** A room owner offline (no socket on any instance) this long leaves the room, which passes on (SPEC §5). */
    roomOwnerGraceMs: number;
    /** How often each instance measures delivery with its probe (src/realtime/probe.ts); 0 = off. */
    probeIntervalMs: number;
  };
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `300ms`, `30s`, `15m`, `2h`, `7d`. Returns undefined on anything else. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) return undefined;
  const unit = DURATION_UNITS[match[2] as string] as number;
  const ms = Number(match[1]) * unit;
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** Collects problems instead of throwing on the first, so one start-up shows every bad variable. */
class Reader {
  readonly problems: string[] = [];
  readonly #env: Env;
  constructor(env: Env) {
    this.#env = env;
  }

  raw(name: string): string | undefined {
    const value = this.#env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  fail(name: string, message: string): undefined {
    this.problems.push(`${name}: ${message}`);
    return undefined;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      this.fail(name, `expected an integer between ${min} and ${max}, got "${value}"`);
      return fallback;
    }
    return n;
  }

  duration(name: string, fallback: string): number {
    const value = this.raw(name) ?? fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.fail(name, `expected a duration like 300ms, 30s, 15m, 2h or 7d, got "${value}"`);
      return parseDuration(fallback) as number;
    }
    return ms;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.fail(name, `expected one of ${allowed.join(', ')}, got "${value}"`);
      return fallback;
    }
    return value as T;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    this.fail(name, `expected true or false, got "${value}"`);
    return fallback;
  }

  endpoints(name: string): RedisEndpoint[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const endpoints: RedisEndpoint[] = [];
    for (const part of value.split(',')) {
      const match = /^\s*([^\s:]+):(\d{1,5})\s*$/.exec(part);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) {
        return this.fail(name, `expected a comma-separated list of host:port, got "${value}"`);
      }
      endpoints.push({ host: match[1] as string, port });
    }
    return endpoints;
  }
}

function readDatabase(r: Reader, name: string, value: string | undefined): DatabaseConfig | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path === '') return r.fail(name, 'sqlite URL needs a file path, e.g. sqlite:./data/parley.db');
    return { dialect: 'sqlite', path, url: value };
  }
  if (value.startsWith('mysql://')) {
    try {
      new URL(value);
    } catch {
      return r.fail(name, 'is not a valid mysql:// URL');
    }
    return {
      dialect: 'mysql',
      url: value,
      poolSize: r.int('DATABASE_POOL_SIZE', 10, 1, 500),
      connectTimeoutMs: r.duration('DATABASE_CONNECT_TIMEOUT', '2s'),
      statementTimeoutMs: r.duration('DATABASE_STATEMENT_TIMEOUT', '5s'),
    };
  }
  // Never echo the value: a database URL usually carries a password.
  return r.fail(name, 'expected a mysql:// or sqlite: URL');
}

/** DATABASE_URL, DATABASE_AUTO_MIGRATE and the MySQL pool settings. */
function readDatabaseSettings(r: Reader): Config['db'] {
  const primary = readDatabase(r, 'DATABASE_URL', r.string('DATABASE_URL', 'sqlite:./data/parley.db'));
  return {
    primary: primary ?? { dialect: 'sqlite', path: './data/parley.db', url: '' },
    autoMigrate: r.bool('DATABASE_AUTO_MIGRATE', primary?.dialect !== 'mysql'),
  };
}

function readRedis(r: Reader): RedisTarget {
  const url = r.raw('REDIS_URL');
  const sentinels = r.endpoints('REDIS_SENTINELS');
  const cluster = r.endpoints('REDIS_CLUSTER_NODES');
  const chosen = [url, sentinels, cluster].filter((v) => v !== undefined).length;
  if (chosen > 1) {
    r.fail('REDIS_URL', 'set only one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
    return { mode: 'none' };
  }
  const password = r.raw('REDIS_PASSWORD');
  const tls = r.bool('REDIS_TLS', false);
  if (url !== undefined) {
    if (!/^rediss?:\/\/[^\s]+$/.test(url)) {
      r.fail('REDIS_URL', 'expected a redis:// or rediss:// URL');
      return { mode: 'none' };
    }
    return { mode: 'standalone', url };
  }
  if (sentinels) {
    const name = r.raw('REDIS_SENTINEL_NAME');
    if (name === undefined) {
      r.fail('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS');
      return { mode: 'none' };
    }
    return { mode: 'sentinel', sentinels, name, password, tls };
  }
  if (cluster) return { mode: 'cluster', nodes: cluster, password, tls };
  return { mode: 'none' };
}

const KNOWN_ISSUERS: Record<string, string> = { google: 'https://accounts.google.com' };

/**
 * OIDC_PROVIDERS=google,corp then, per name, OIDC_<NAME>_ISSUER (known for
 * google), OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_CLIENT_SECRET. Issuers must be
 * https, except on loopback (local development and tests).
 */
function readOidc(r: Reader, port: number): Config['oidc'] {
  const publicUrl = (r.raw('PUBLIC_URL') ?? `http://localhost:${port}`).replace(/\/$/, '');
  if (!/^https?:\/\/[^\s/]+$/.test(publicUrl))
    r.fail('PUBLIC_URL', 'expected an origin like https://chat.example.com');
  const providers: Record<string, OidcProvider> = {};
  for (const name of (r.raw('OIDC_PROVIDERS') ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
      r.fail('OIDC_PROVIDERS', `"${name}" is not a provider name (lower-case letters, digits, dashes)`);
      continue;
    }
    const prefix = `OIDC_${name.toUpperCase().replaceAll('-', '_')}`;
    const issuer = r.raw(`${prefix}_ISSUER`) ?? KNOWN_ISSUERS[name];
    const clientId = r.raw(`${prefix}_CLIENT_ID`);
    const clientSecret = r.raw(`${prefix}_CLIENT_SECRET`);
    if (!issuer) r.fail(`${prefix}_ISSUER`, 'is required');
    else if (!/^https:\/\//.test(issuer) && !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/.test(issuer)) {
      r.fail(`${prefix}_ISSUER`, 'must be an https URL (http only on loopback)');
    }
    if (!clientId) r.fail(`${prefix}_CLIENT_ID`, 'is required');
    if (!clientSecret) r.fail(`${prefix}_CLIENT_SECRET`, 'is required');
    if (issuer && clientId && clientSecret) providers[name] = { issuer, clientId, clientSecret };
  }
  return { publicUrl, providers };
}

/** proxy-addr's named ranges, accepted in TRUST_PROXY next to addresses and CIDRs. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Which peers may set the client address through X-Forwarded-For: a hop count or a
 * list of proxy addresses/CIDRs. `true` is refused: it trusts the left-most entry,
 * which any client writes itself (RELIABILITY A12).
 */
function readTrustProxy(r: Reader): Config['http']['trustProxy'] {
  const value = r.raw('TRUST_PROXY');
  if (value === undefined || value === 'false') return false;
  if (value === 'true') {
    return (
      r.fail(
        'TRUST_PROXY',
        `"true" would trust any client's X-Forwarded-For; give the proxies' addresses/CIDRs or a hop count`,
      ) ?? false
    );
  }
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim());
  const bad = entries.filter((e) => !isProxyAddress(e));
  if (bad.length > 0) {
    return (
      r.fail('TRUST_PROXY', `expected proxy addresses/CIDRs or a hop count, got "${bad.join(', ')}"`) ?? false
    );
  }
  return entries;
}

function readRateLimits(r: Reader): Config['rateLimits'] {
  const policies: Config['rateLimits'] = {};
  for (const [name, fallback] of Object.entries(RATE_LIMIT_DEFAULTS) as [
    RateLimitPolicyName,
    RateLimitPolicy,
  ][]) {
    const variable = `RATE_LIMIT_${name.toUpperCase()}`;
    const value = r.raw(variable);
    if (value === 'off') continue;
    if (value === undefined) {
      policies[name] = { ...fallback };
      continue;
    }
    const match = /^(\d+)\/(\w+?)(?::(insurance|open|closed))?$/.exec(value);
    const durationMs = match ? parseDuration(match[2] as string) : undefined;
    if (!match || durationMs === undefined || Number(match[1]) < 1) {
      r.fail(
        variable,
        `expected points/duration[:insurance|open|closed] (e.g. 5/15m:closed) or off, got "${value}"`,
      );
      continue;
    }
    policies[name] = {
      points: Number(match[1]),
      durationMs,
      whenRedisDown: (match[3] as RedisDownBehaviour | undefined) ?? fallback.whenRedisDown,
    };
  }
  return policies;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates only the database variables (for `npm run migrate`, which needs no
 * secrets); throws ConfigError naming every bad one, as loadConfig does.
 */
export function loadDatabaseConfig(env: Env): Readonly<Config['db']> {
  const r = new Reader(env);
  const db = readDatabaseSettings(r);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return deepFreeze(db);
}

/** Validates `env` into a frozen Config; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Readonly<Config> {
  const r = new Reader(env);
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const db = readDatabaseSettings(r);

  const jwtSecret = r.raw('JWT_SECRET');
  const jwtPrivateKey = r.raw('JWT_PRIVATE_KEY');
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    r.fail('JWT_SECRET', 'must be at least 32 bytes of random data');
  }
  if (jwtSecret === undefined && jwtPrivateKey === undefined) {
    // Embedded mode generates and persists a development secret; anything shared or in production needs a real one.
    if (nodeEnv === 'production') {
      r.fail('JWT_SECRET', 'JWT_SECRET or JWT_PRIVATE_KEY is required when NODE_ENV=production');
    } else if (db.primary.dialect === 'mysql') {
      r.fail(
        'JWT_SECRET',
        'JWT_SECRET or JWT_PRIVATE_KEY is required with a MySQL database (instances must share it)',
      );
    }
  }

  const port = r.int('PORT', 3000, 0, 65535);
  const config: Config = {
    env: nodeEnv,
    http: {
      host: r.string('HOST', '127.0.0.1'),
      port,
      bodyLimit: r.int('BODY_LIMIT', 16_384, 1024, 64 * 1_048_576),
      requestTimeoutMs: r.duration('REQUEST_TIMEOUT', '30s'),
      corsOrigins: (r.raw('CORS_ORIGINS') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      trustProxy: readTrustProxy(r),
    },
    log: {
      level: r.oneOf(
        'LOG_LEVEL',
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
        'info',
      ),
    },
    db,
    redis: {
      ...readRedis(r),
      keyPrefix: r.string('REDIS_KEY_PREFIX', 'parley:'),
      commandTimeoutMs: r.duration('REDIS_COMMAND_TIMEOUT', '300ms'),
    },
    oidc: readOidc(r, port),
    rateLimits: readRateLimits(r),
    auth: {
      jwtSecret,
      jwtPrivateKey,
      accessTokenTtlMs: r.duration('ACCESS_TOKEN_TTL', '15m'),
      refreshTokenTtlMs: r.duration('REFRESH_TOKEN_TTL', '7d'),
      sessionMaxAgeMs: r.duration('SESSION_MAX_AGE', '30d'),
      refreshReuseGraceMs: r.raw('REFRESH_REUSE_GRACE') === '0' ? 0 : r.duration('REFRESH_REUSE_GRACE', '5s'),
      passwordHashConcurrency: r.int(
        'PASSWORD_HASH_CONCURRENCY',
        Math.max(1, availableParallelism() - 1),
        1,
        64,
      ),
      adminUserIds: (r.raw('ADMIN_USER_IDS') ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    },
    realtime: {
      presenceTtlMs: r.duration('PRESENCE_TTL', '60s'),
      presenceHeartbeatMs: r.duration('PRESENCE_HEARTBEAT', '25s'),
      maxSocketsPerUser: r.int('WS_MAX_SOCKETS_PER_USER', 10, 1, 10_000),
      maxSocketsPerIp: r.int('WS_MAX_SOCKETS_PER_IP', 100, 1, 1_000_000),
      roomOwnerGraceMs: r.duration('ROOM_OWNER_GRACE', '30s'),
      probeIntervalMs:
        r.raw('REALTIME_PROBE_INTERVAL') === '0' ? 0 : r.duration('REALTIME_PROBE_INTERVAL', '15s'),
    },
  };

  if (config.realtime.presenceHeartbeatMs >= config.realtime.presenceTtlMs) {
    r.fail('PRESENCE_HEARTBEAT', 'must be shorter than PRESENCE_TTL');
  }

  for (const id of config.auth.adminUserIds) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
      r.fail('ADMIN_USER_IDS', `"${id}" is not a user id (a UUID)`);
    }
  }

  for (const origin of config.http.corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      r.fail('CORS_ORIGINS', `"${origin}" is not an origin like https://app.example.com`);
    }
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return deepFreeze(config);
}
