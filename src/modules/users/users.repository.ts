/**
 * SQL for the users table. One intent-named method per query; every method
 * takes an optional transaction so services can compose them atomically.
 */
import {
  type Insertable,
  type Kysely,
  type Selectable,
  sql,
  type Transaction,
  type Updateable,
} from 'kysely';
import type { DB, UsersTable } from '../../infra/db/schema.ts';

export type UserRow = Selectable<UsersTable>;
export type PublicUserRow = Pick<UserRow, 'id' | 'display_name' | 'avatar_url' | 'created_at'>;
export type ProfilePatch = Pick<Updateable<UsersTable>, 'display_name' | 'avatar_url'>;

/** Users per last_seen_at UPDATE (five parameters each: far below either database’s limit). */
const LAST_SEEN_BATCH = 500;

export class UsersRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** The public columns of one active (not disabled) user, by primary key. */
  async findPublicById(id: string, trx?: Transaction<DB>): Promise<PublicUserRow | undefined> {
    return (trx ?? this.#db)
      .selectFrom('users')
      .select(['id', 'display_name', 'avatar_url', 'created_at'])
      .where('id', '=', id)
      .where('disabled_at', 'is', null)
      .executeTakeFirst();
  }

  /** Applies a profile change; returns false when no active user has this id. */
  async updateProfile(id: string, patch: ProfilePatch, trx?: Transaction<DB>): Promise<boolean> {
    const result = await (trx ?? this.#db)
      .updateTable('users')
      .set({ ...patch, updated_at: Date.now() })
      .where('id', '=', id)
      .where('disabled_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Inserts a user; throws a unique violation when the email is taken. */
  async create(row: Insertable<UsersTable>, trx?: Transaction<DB>): Promise<void> {
    await (trx ?? this.#db).insertInto('users').values(row).execute();
  }

  /** Everything authentication needs about the account with this (normalised) email. */
  async findByEmail(email: string, trx?: Transaction<DB>): Promise<UserRow | undefined> {
    return (trx ?? this.#db).selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async findById(id: string, trx?: Transaction<DB>): Promise<UserRow | undefined> {
    return (trx ?? this.#db).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async updatePasswordHash(id: string, passwordHash: string, trx?: Transaction<DB>): Promise<void> {
    await (trx ?? this.#db)
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /** Marks the account disabled (keeps the first time); false when no user has this id. */
  async disable(id: string, now: number, trx: Transaction<DB>): Promise<boolean> {
    const found = await trx.selectFrom('users').select('disabled_at').where('id', '=', id).executeTakeFirst();
    if (!found) return false;
    if (found.disabled_at === null) {
      await trx
        .updateTable('users')
        .set({ disabled_at: now, updated_at: now })
        .where('id', '=', id)
        .execute();
    }
    return true;
  }

  /**
   * Sets last_seen_at of each user, never moving it backwards: one UPDATE per LAST_SEEN_BATCH
   * users (a `CASE id` maps each to its time), so a mass disconnect's batch is a statement or
   * two, not one per user.
   */
  async recordLastSeen(seen: ReadonlyMap<string, number>, trx: Transaction<DB>): Promise<void> {
    const entries = [...seen];
    for (let i = 0; i < entries.length; i += LAST_SEEN_BATCH) {
      const batch = entries.slice(i, i + LAST_SEEN_BATCH);
      const at = sql<number>`case ${sql.ref('id')} ${sql.join(
        batch.map(([id, time]) => sql`when ${id} then ${time}`),
        sql` `,
      )} end`;
      await trx
        .updateTable('users')
        .set({ last_seen_at: at })
        .where(
          'id',
          'in',
          batch.map(([id]) => id),
        )
        .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)]))
        .execute();
    }
  }

  /** last_seen_at of each of these users that has one. */
  async lastSeen(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('users')
      .select(['id', 'last_seen_at'])
      .where('id', 'in', ids)
      .where('last_seen_at', 'is not', null)
      .execute();
    return new Map(rows.map((r) => [r.id, r.last_seen_at as number]));
  }

  /** Replaces every personal field with a tombstone and disables the account; the row (and its id) stays. */
  async anonymise(id: string, now: number, trx: Transaction<DB>): Promise<void> {
    await trx
      .updateTable('users')
      .set({
        email: `deleted-${id}@deleted.invalid`,
        email_verified_at: null,
        password_hash: null,
        display_name: 'Deleted user',
        avatar_url: null,
        disabled_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }
}
