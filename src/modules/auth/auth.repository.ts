/**
 * SQL for sessions (one row per login; MySQL/SQLite is the truth for every
 * session's state), their refresh-token families and the audit log. The speed layer only caches what these
 * queries return.
 */
import { type Insertable, type Kysely, MysqlAdapter, type Selectable, sql, type Transaction } from 'kysely';
import type { AuditLogTable, DB, SessionsTable } from '../../infra/db/schema.ts';

export type SessionRow = Selectable<SessionsTable>;

/** What every authenticated request needs to know about its session. */
export interface SessionState {
  userId: string;
  role: 'user' | 'admin';
  /** Not revoked, and the account is not disabled. */
  active: boolean;
}

export class SessionsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(row: Insertable<SessionsTable>, trx?: Transaction<DB>): Promise<void> {
    await (trx ?? this.#db).insertInto('sessions').values(row).execute();
  }

  async findByRefreshDigest(digest: string): Promise<SessionRow | undefined> {
    return this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('refresh_token_hash', '=', digest)
      .executeTakeFirst();
  }

  /** The session a token was rotated away from (any number of rotations back), and when. */
  async findByEarlierDigest(digest: string): Promise<(SessionRow & { rotated_at: number }) | undefined> {
    return this.#db
      .selectFrom('session_tokens')
      .innerJoin('sessions', 'sessions.id', 'session_tokens.session_id')
      .selectAll('sessions')
      .select('session_tokens.rotated_at')
      .where('session_tokens.token_hash', '=', digest)
      .executeTakeFirst();
  }

  /**
   * Rotates the refresh token, only if `from` is still the current one and the
   * session is live: of concurrent rotations of one token exactly one succeeds
   * (the row lock serialises them; the losers match no row). `from` joins the
   * session's family in the same transaction, so no loser can look for it
   * before it is there.
   */
  async rotate(args: {
    id: string;
    from: string;
    to: string;
    now: number;
    expiresAt: number;
  }): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('sessions')
        .set({ refresh_token_hash: args.to, last_used_at: args.now, expires_at: args.expiresAt })
        .where('id', '=', args.id)
        .where('refresh_token_hash', '=', args.from)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await trx
        .insertInto('session_tokens')
        .values({ token_hash: args.from, session_id: args.id, rotated_at: args.now })
        .execute();
      return true;
    });
  }

  async revoke(args: { id: string; reason: string; now: number }, trx?: Transaction<DB>): Promise<boolean> {
    const result = await (trx ?? this.#db)
      .updateTable('sessions')
      .set({ revoked_at: args.now, revoked_reason: args.reason })
      .where('id', '=', args.id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Revokes every live session of a user (but `exceptSessionId`) and returns
   * their ids. The rows are locked first (MySQL), so a concurrent login either
   * commits before and is revoked here, or after and is a legitimately new session.
   */
  async revokeAllForUser(
    args: { userId: string; exceptSessionId?: string; reason: string; now: number },
    trx: Transaction<DB>,
  ): Promise<string[]> {
    let query = trx
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', args.userId)
      .where('revoked_at', 'is', null);
    if (args.exceptSessionId) query = query.where('id', '!=', args.exceptSessionId);
    const locked = await query.modifyEnd(sql`${sql.raw(isMysql(trx) ? 'for update' : '')}`).execute();
    const ids = locked.map((r) => r.id);
    if (ids.length > 0) {
      await trx
        .updateTable('sessions')
        .set({ revoked_at: args.now, revoked_reason: args.reason })
        .where('id', 'in', ids)
        .execute();
    }
    return ids;
  }

  /** Up to `limit` live sessions, newest first, after `after` in that order (keyset pagination). */
  async listLive(
    userId: string,
    now: number,
    limit: number,
    after?: Pick<SessionRow, 'created_at' | 'id'>,
  ): Promise<SessionRow[]> {
    let query = this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now);
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', after.created_at),
          eb.and([eb('created_at', '=', after.created_at), eb('id', '<', after.id)]),
        ]),
      );
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async findForUser(id: string, userId: string): Promise<SessionRow | undefined> {
    return this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /** The state of a session as authentication sees it; undefined when it does not exist. */
  async findState(id: string): Promise<SessionState | undefined> {
    const row = await this.#db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['sessions.user_id', 'sessions.revoked_at', 'users.role', 'users.disabled_at'])
      .where('sessions.id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      userId: row.user_id,
      role: row.role,
      active: row.revoked_at === null && row.disabled_at === null,
    };
  }
}

/** SQLite has no row locks (and needs none: it has a single writer); MySQL locks with FOR UPDATE. */
function isMysql(trx: Transaction<DB>): boolean {
  return trx.getExecutor().adapter instanceof MysqlAdapter;
}

export type AuditEvent = Omit<Insertable<AuditLogTable>, 'id' | 'created_at'>;

export class AuditRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Appends one event. Never pass a password or a token in `detail`. */
  async record(event: AuditEvent, trx?: Transaction<DB>): Promise<void> {
    await (trx ?? this.#db)
      .insertInto('audit_log')
      .values({ ...event, created_at: Date.now() })
      .execute();
  }
}
