/**
 * The mysql2 pool behind Kysely, with the deadlines mysql2 does not keep when
 * the server stops answering without closing anything (a black hole: packets
 * dropped, not refused). In mysql2 a query `timeout` only fails the callback —
 * the connection stays busy with the unanswered command, goes back to the pool,
 * and every later command on it waits behind that one forever; `destroy()`
 * only half-closes the socket; and `pool.end()` queues COM_QUIT behind
 * whatever is stuck. Here instead:
 * - every statement has a deadline (DATABASE_STATEMENT_TIMEOUT); past it the
 *   caller gets PROTOCOL_SEQUENCE_TIMEOUT (a 503) and the connection is
 *   destroyed, socket included, never returned to the pool — a transaction on
 *   it fails too, its rollback failing at once on the closed connection;
 * - taking a connection (waiting for a free one or opening one) has the same
 *   deadline, and opening one is bounded by DATABASE_CONNECT_TIMEOUT (mysql2);
 * - closing sends COM_QUIT where it can, then destroys every socket still open
 *   within one statement deadline, so shutdown never waits on a dead server.
 */
import type { Socket } from 'node:net';
import type { MysqlPool } from 'kysely';
import { createPool, type PoolConnection } from 'mysql2';
import type { DatabaseConfig } from '../../config.ts';

type MysqlConfig = Extract<DatabaseConfig, { dialect: 'mysql' }>;
type Callback = (error: unknown, ...results: unknown[]) => void;
/** mysql2 keeps its socket on `stream`, absent from its typings. */
type Connection = PoolConnection & { stream: Socket };

// Strict mode makes an over-long or out-of-range value an error instead of a silent truncation.
const MYSQL_SESSION = `SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'`;

function deadlineError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what}: no answer within ${ms} ms`), {
    code: 'PROTOCOL_SEQUENCE_TIMEOUT',
    fatal: true,
  });
}

/**
 * Calls `callback` with the outcome of `start`, or with `onTimeout()`'s error once `ms` have
 * passed; `settle` tells whether the outcome was delivered (false: it came too late).
 */
function withDeadline(
  ms: number,
  callback: Callback,
  onTimeout: () => Error,
  start: (settle: (error: unknown, ...results: unknown[]) => boolean) => void,
): void {
  let settled = false;
  const timer = setTimeout(() => {
    settled = true;
    callback(onTimeout());
  }, ms);
  start((error, ...results) => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    callback(error, ...results);
    return true;
  });
}

export function createMysqlPool(config: MysqlConfig): MysqlPool {
  const deadlineMs = config.statementTimeoutMs;
  const pool = createPool({
    uri: config.url,
    connectionLimit: config.poolSize,
    maxIdle: config.poolSize,
    connectTimeout: config.connectTimeoutMs,
    // Probes an idle connection whose peer vanished, so the pool drops it instead of handing it out.
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    charset: 'utf8mb4_bin',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    // Failing fast beats an unbounded queue when every connection is stuck behind a dead server.
    queueLimit: config.poolSize * 50,
  });
  const sockets = new Set<Socket>();

  /** Removes the connection from the pool and closes its socket outright (no FIN handshake to wait for). */
  function discard(conn: Connection): void {
    conn.destroy();
    conn.stream.destroy();
  }

  pool.on('connection', (poolConnection) => {
    const conn = poolConnection as Connection;
    sockets.add(conn.stream);
    conn.stream.once('close', () => sockets.delete(conn.stream));
    conn.query(MYSQL_SESSION);
    // Kysely runs statements as query(sql, parameters, callback); it streams none here.
    const query = conn.query.bind(conn) as (sql: string, values: unknown, cb: Callback) => unknown;
    (conn as { query: unknown }).query = (sqlText: string, values: unknown, cb: Callback) =>
      withDeadline(
        deadlineMs,
        cb,
        () => {
          discard(conn);
          return deadlineError('statement', deadlineMs);
        },
        (settle) => query(sqlText, values, settle),
      );
  });

  return {
    getConnection(cb) {
      withDeadline(
        deadlineMs,
        cb as Callback,
        () => deadlineError('waiting for a connection', deadlineMs),
        (settle) =>
          pool.getConnection((error, conn) => {
            // Handed over after the caller gave up: back to the pool for the next one.
            if (!settle(error, conn) && !error) conn.release();
          }),
      );
    },
    end(cb) {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        // COM_QUIT is written by now where the connection could take it; whatever is left is dead weight.
        setImmediate(() => {
          for (const socket of sockets) socket.destroy();
          cb(undefined);
        });
      };
      // End errors (a connect that timed out meanwhile) change nothing for a pool being closed.
      const timer = setTimeout(finish, deadlineMs);
      pool.end(finish);
    },
  };
}
