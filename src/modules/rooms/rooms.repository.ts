/**
 * SQL for rooms, room_members and room_current_member. One intent-named
 * method per query. Membership changes run inside a transaction that first
 * locks the acting user's users row, then the affected rooms rows in id order
 * (`lockUser`, `lockRooms`): one lock order everywhere, so two changes can
 * wait for each other but rarely deadlock (and a deadlock is retried). On
 * MySQL the locks are `FOR UPDATE` row locks; SQLite runs one transaction at
 * a time, so it needs none.
 */
import type { Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Dialect } from '../../infra/db/kysely.ts';
import type { DB, LeftReason, RoomMembersTable, RoomRole, RoomsTable } from '../../infra/db/schema.ts';

export type RoomRow = Selectable<RoomsTable>;
export type MemberRow = Selectable<RoomMembersTable>;
/** A position in a list ordered by (participant_count desc, created_at desc, id desc). */
export interface ListPosition {
  count: number;
  createdAt: number;
  id: string;
}
/** A position in a participants list ordered by (joined_at, id). */
export interface MemberPosition {
  joinedAt: number;
  id: string;
}
export type RoomChange = Partial<
  Pick<
    RoomRow,
    | 'name'
    | 'topic'
    | 'owner_id'
    | 'max_participants'
    | 'status'
    | 'participant_count'
    | 'closed_at'
    | 'last_activity_at'
  >
>;

export class RoomsRepository {
  readonly #db: Kysely<DB>;
  readonly #lockRows: boolean;

  constructor(db: Kysely<DB>, dialect: Dialect) {
    this.#db = db;
    this.#lockRows = dialect === 'mysql';
  }

  /** Locks the user's row (the first lock of every membership change); false when no active user has this id. */
  async lockUser(userId: string, trx: Transaction<DB>): Promise<boolean> {
    const row = await trx
      .selectFrom('users')
      .select(['id', 'disabled_at'])
      .where('id', '=', userId)
      .$if(this.#lockRows, (q) => q.forUpdate())
      .executeTakeFirst();
    return row !== undefined && row.disabled_at === null;
  }

  /** Locks these rooms' rows in id order (the second lock of a membership change) and returns them. */
  async lockRooms(ids: readonly string[], trx: Transaction<DB>): Promise<RoomRow[]> {
    const rows: RoomRow[] = [];
    for (const id of [...new Set(ids)].sort()) {
      const row = await trx
        .selectFrom('rooms')
        .selectAll()
        .where('id', '=', id)
        .$if(this.#lockRows, (q) => q.forUpdate())
        .executeTakeFirst();
      if (row) rows.push(row);
    }
    return rows;
  }

  /** The user's current membership: which room and which stay (row) in it. */
  async currentOf(
    userId: string,
    trx?: Transaction<DB>,
  ): Promise<{ room_id: string; member_id: string } | undefined> {
    return (trx ?? this.#db)
      .selectFrom('room_current_member')
      .select(['room_id', 'member_id'])
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /** The current room of each of these users who is in one: one query for the whole list. */
  async currentRoomsOf(userIds: readonly string[]): Promise<{ user_id: string; room_id: string }[]> {
    if (userIds.length === 0) return [];
    return this.#db
      .selectFrom('room_current_member')
      .select(['user_id', 'room_id'])
      .where('user_id', 'in', userIds)
      .execute();
  }

  /** The current room of each of these users who holds the owner role in it: one query for the whole list. */
  async ownedCurrentRooms(userIds: readonly string[]): Promise<{ user_id: string; room_id: string }[]> {
    if (userIds.length === 0) return [];
    return this.#db
      .selectFrom('room_current_member as c')
      .innerJoin('room_members as m', 'm.id', 'c.member_id')
      .select(['c.user_id', 'c.room_id'])
      .where('c.user_id', 'in', userIds)
      .where('m.role', '=', 'owner')
      .execute();
  }

  async findById(id: string, trx?: Transaction<DB>): Promise<RoomRow | undefined> {
    return (trx ?? this.#db).selectFrom('rooms').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findIdBySlug(slug: string): Promise<string | undefined> {
    const row = await this.#db.selectFrom('rooms').select('id').where('slug', '=', slug).executeTakeFirst();
    return row?.id;
  }

  async slugTaken(slug: string, trx: Transaction<DB>): Promise<boolean> {
    const row = await trx.selectFrom('rooms').select('id').where('slug', '=', slug).executeTakeFirst();
    return row !== undefined;
  }

  /** Inserts a room; throws a unique violation when the slug is taken. */
  async insertRoom(row: Insertable<RoomsTable>, trx: Transaction<DB>): Promise<void> {
    await trx.insertInto('rooms').values(row).execute();
  }

  /** Writes a locked room's changes, one revision up. */
  async updateRoom(id: string, revision: number, change: RoomChange, trx: Transaction<DB>): Promise<void> {
    await trx
      .updateTable('rooms')
      .set({ ...change, revision })
      .where('id', '=', id)
      .execute();
  }

  /** The user's current stay in this room. */
  async presentMember(roomId: string, userId: string, trx: Transaction<DB>): Promise<MemberRow | undefined> {
    return trx
      .selectFrom('room_members')
      .selectAll()
      .where('room_id', '=', roomId)
      .where('user_id', '=', userId)
      .where('left_at', 'is', null)
      .executeTakeFirst();
  }

  /** Starts a stay and makes it the user's current room (the user must have none: primary key). */
  async insertMember(row: MemberRow, trx: Transaction<DB>): Promise<void> {
    await trx.insertInto('room_members').values(row).execute();
    await trx
      .insertInto('room_current_member')
      .values({ user_id: row.user_id, room_id: row.room_id, member_id: row.id })
      .execute();
  }

  /** Ends a stay and clears the user's current room. */
  async endMember(member: MemberRow, reason: LeftReason, at: number, trx: Transaction<DB>): Promise<void> {
    await trx
      .updateTable('room_members')
      .set({ left_at: at, left_reason: reason })
      .where('id', '=', member.id)
      .execute();
    await trx.deleteFrom('room_current_member').where('user_id', '=', member.user_id).execute();
  }

  /** Ends every current stay in the room (it is closing); returns the users who were in it. */
  async endAllMembers(
    roomId: string,
    reason: LeftReason,
    at: number,
    trx: Transaction<DB>,
  ): Promise<string[]> {
    const present = await trx
      .selectFrom('room_members')
      .select('user_id')
      .where('room_id', '=', roomId)
      .where('left_at', 'is', null)
      .execute();
    if (present.length === 0) return [];
    await trx
      .updateTable('room_members')
      .set({ left_at: at, left_reason: reason })
      .where('room_id', '=', roomId)
      .where('left_at', 'is', null)
      .execute();
    await trx.deleteFrom('room_current_member').where('room_id', '=', roomId).execute();
    return present.map((m) => m.user_id);
  }

  async setRole(memberId: string, role: RoomRole, trx: Transaction<DB>): Promise<void> {
    await trx.updateTable('room_members').set({ role }).where('id', '=', memberId).execute();
  }

  /** Who inherits the room: moderators first, then the longest present; never `exceptUserId`. */
  async successor(
    roomId: string,
    exceptUserId: string,
    trx: Transaction<DB>,
  ): Promise<MemberRow | undefined> {
    return trx
      .selectFrom('room_members')
      .selectAll()
      .where('room_id', '=', roomId)
      .where('left_at', 'is', null)
      .where('user_id', '!=', exceptUserId)
      .orderBy((eb) => eb.case().when('role', '=', 'moderator').then(0).else(1).end())
      .orderBy('joined_at')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
  }

  /** When the user was last kicked from the room, if at or after `since`. */
  async kickedSince(
    roomId: string,
    userId: string,
    since: number,
    trx: Transaction<DB>,
  ): Promise<number | undefined> {
    const row = await trx
      .selectFrom('room_members')
      .select('left_at')
      .where('room_id', '=', roomId)
      .where('user_id', '=', userId)
      .where('left_reason', '=', 'kicked')
      .where('left_at', '>=', since)
      .orderBy('left_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.left_at ?? undefined;
  }

  /**
   * Active public rooms in list order (most participants, then newest, then
   * id), optionally of one language and after a position; the SQL side of the
   * lists and the source the speed-layer index is rebuilt from.
   */
  async listActive(language: string | undefined, limit: number, after?: ListPosition): Promise<RoomRow[]> {
    return this.#db
      .selectFrom('rooms')
      .selectAll()
      .where('status', '=', 'active')
      .where('visibility', '=', 'public')
      .$if(language !== undefined, (q) => q.where('language', '=', language as string))
      .$if(after !== undefined, (q) => {
        const { count, createdAt, id } = after as ListPosition;
        return q.where((eb) =>
          eb.or([
            eb('participant_count', '<', count),
            eb.and([eb('participant_count', '=', count), eb('created_at', '<', createdAt)]),
            eb.and([
              eb('participant_count', '=', count),
              eb('created_at', '=', createdAt),
              eb('id', '<', id),
            ]),
          ]),
        );
      })
      .orderBy('participant_count', 'desc')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /** Rows by id, in no particular order; missing ids are absent. */
  async findMany(ids: readonly string[]): Promise<RoomRow[]> {
    if (ids.length === 0) return [];
    return this.#db.selectFrom('rooms').selectAll().where('id', 'in', ids).execute();
  }

  /** Every language a room was ever created in. */
  async languages(): Promise<string[]> {
    const rows = await this.#db.selectFrom('rooms').select('language').distinct().execute();
    return rows.map((r) => r.language);
  }

  /** Active public rooms per language, most rooms first. */
  async languageCounts(): Promise<{ language: string; rooms: number }[]> {
    const rows = await this.#db
      .selectFrom('rooms')
      .select(['language', (eb) => eb.fn.countAll<number | string>().as('rooms')])
      .where('status', '=', 'active')
      .where('visibility', '=', 'public')
      .groupBy('language')
      .orderBy('rooms', 'desc')
      .orderBy('language')
      .execute();
    return rows.map((r) => ({ language: r.language, rooms: Number(r.rooms) }));
  }

  /** Current members in joining order, after a position. */
  async participants(roomId: string, limit: number, after?: MemberPosition): Promise<MemberRow[]> {
    return this.#db
      .selectFrom('room_members')
      .selectAll()
      .where('room_id', '=', roomId)
      .where('left_at', 'is', null)
      .$if(after !== undefined, (q) => {
        const { joinedAt, id } = after as MemberPosition;
        return q.where((eb) =>
          eb.or([
            eb('joined_at', '>', joinedAt),
            eb.and([eb('joined_at', '=', joinedAt), eb('id', '>', id)]),
          ]),
        );
      })
      .orderBy('joined_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  }
}
