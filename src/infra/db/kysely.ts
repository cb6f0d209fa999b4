/**
 * Opens the SQL source of truth: MySQL/MariaDB through a mysql2 pool or the
 * embedded SQLite file, chosen by DATABASE_URL. Both dialects see the same
 * schema (see migrations/); the few places the SQL differs branch on
 * `dialect` explicitly.
 */
import { Kysely, type LogEvent, MysqlDialect, SqliteDialect, sql } from 'kysely';
import type { DatabaseConfig } from '../../config.ts';
import { createMysqlPool } from './mysql-pool.ts';
import type { DB } from './schema.ts';
import { openSqlite } from './sqlite.ts';

export type Dialect = DatabaseConfig['dialect'];

export interface SqlDatabase {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  /** Round trip to the server (`SELECT 1`); rejects when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Observes every executed statement: its verb (select, insert…), duration and whether it failed. */
export type QueryObserver = (verb: string, durationMs: number, failed: boolean) => void;

export function createDatabase(config: DatabaseConfig, onQuery?: QueryObserver): SqlDatabase {
  const log = onQuery
    ? (event: LogEvent) =>
        onQuery(
          /^\s*(\w+)/.exec(event.query.sql)?.[1]?.toLowerCase() ?? 'other',
          event.queryDurationMillis,
          event.level === 'error',
        )
    : undefined;
  let db: Kysely<DB>;
  if (config.dialect === 'mysql') {
    const pool = createMysqlPool(config);
    db = new Kysely<DB>({ dialect: new MysqlDialect({ pool }), log });
  } else {
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: openSqlite(config.path) }), log });
  }
  return {
    db,
    dialect: config.dialect,
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** The database's URL fit for a log or error line: a MySQL password is never shown. */
export function displayUrl(config: DatabaseConfig): string {
  if (config.dialect === 'sqlite') return `sqlite:${config.path}`;
  const url = new URL(config.url);
  url.password = '';
  for (const key of [...url.searchParams.keys()]) if (/pass/i.test(key)) url.searchParams.delete(key);
  return url.toString();
}

/**
 * The message of a driver error on one line; some (a refused connection to
 * several addresses) carry only a code.
 */
export function errorText(error: unknown): string {
  let text = String(error);
  if (error instanceof Error) {
    const { code } = error as { code?: unknown };
    text = error.message || (typeof code === 'string' ? code : error.name);
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** The database could not be reached at all (start-up or `npm run migrate`); one line, password-free. */
export class DatabaseUnreachableError extends Error {
  constructor(config: DatabaseConfig, cause: unknown) {
    super(`cannot reach ${displayUrl(config)}: ${errorText(cause)}`, { cause });
    this.name = 'DatabaseUnreachableError';
  }
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'SQLITE_BUSY',
]);

/**
 * True when an error means "the database cannot serve right now" (connection
 * refused or lost, server shutting down, lock timeout) rather than a bug: the
 * HTTP layer answers 503 with Retry-After for these.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, fatal, message } = error as { code?: unknown; fatal?: unknown; message?: unknown };
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  if (fatal === true) return true;
  return typeof message === 'string' && /^(Queue limit reached|Pool is closed)/.test(message);
}

/** True when an insert hit a UNIQUE constraint (MySQL ER_DUP_ENTRY, SQLite constraint 2067/1555). */
export function isUniqueViolation(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  return code === 'ER_DUP_ENTRY' || errcode === 2067 || errcode === 1555;
}
