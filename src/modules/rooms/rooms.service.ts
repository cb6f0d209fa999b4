/**
 * Room rules. Every state change goes through `change(actorId, command)`: one
 * SQL transaction that locks the acting user's row, then the rooms it touches
 * in id order (rooms.repository.ts), applies the change and what it causes
 * (ownership passing on, an empty room closing) and returns the domain events
 * once committed. Deadlocks and lock-wait timeouts are retried up to 3 times.
 * After the commit, and only then, the speed layer follows: the room index
 * first, then cached rooms and list pages (so a page rebuilt after the bump
 * already sees the new index).
 *
 * Reads: rooms by id or slug and list pages come from the cache; list order
 * from the room index (room-index.ts). A walk through a list is pinned to the
 * order of its first page: that page stores the ordered ids as a short-lived
 * snapshot in the cache store, and its cursor names the snapshot, so
 * concurrent joins can neither repeat nor skip a room. A room that closed
 * during the walk is left out. If the snapshot is gone (expired after
 * WALK_TTL, or Redis was down), the cursor's last position continues the walk
 * in SQL order, which is then only as stable as the counts.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { AppError, Errors } from '../../errors.ts';
import type { Events } from '../../events.ts';
import { type Cache, Ttl } from '../../infra/cache/cache.ts';
import { isUniqueViolation } from '../../infra/db/kysely.ts';
import type { DB, RoomRole } from '../../infra/db/schema.ts';
import {
  type AfterCommit,
  TransactionConflict,
  TransactionRetriesExhausted,
  unitOfWork,
} from '../../infra/db/unit-of-work.ts';
import type { Ranked } from '../../infra/ranking/ranking.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { countOf, createdAtOf, type RoomIndex, rankingOf } from './room-index.ts';
import type { CursorCodec } from './rooms.cursor.ts';
import { RoomErrors } from './rooms.errors.ts';
import { publishRoomEvents, type RoomEvent } from './rooms.events.ts';
import { slugify, suffixed } from './rooms.input.ts';
import type { ListPosition, MemberRow, RoomChange, RoomRow, RoomsRepository } from './rooms.repository.ts';
import type { LanguageCounts, ParticipantPage, Room, RoomPage } from './rooms.schemas.ts';

/** A kicked user may not rejoin the room for this long. */
const KICK_COOLDOWN_MS = 10 * 60_000;
/** Rooms a list walk pins; beyond them the walk continues in SQL order. */
const WALK_MAX = 5000;
/** How long a walk's snapshot stays: a client paging slower than this continues in SQL order. */
const WALK_TTL = 15 * 60_000;
const LOCK_RETRIES = 3;

const ROOMS = 'room';
const SLUGS = 'room-slug';
const PAGES = 'room-list';
const WALKS = 'room-walk';
const LANGUAGES = 'rooms:languages';
const collectionOf = (language: string | undefined) => rankingOf(language);

export type RoomCommand =
  | {
      type: 'create';
      name: string;
      topic?: string;
      language: string;
      maxParticipants?: number;
      visibility?: 'public' | 'unlisted';
    }
  | { type: 'update'; roomId: string; name?: string; topic?: string | null; maxParticipants?: number }
  | { type: 'close'; roomId: string }
  | { type: 'join'; roomId: string }
  /** `ifOwner`: only if the actor owns the room when the transaction locks it (else nothing changes). */
  | { type: 'leave'; roomId: string; ifOwner?: boolean }
  | { type: 'kick'; roomId: string; userId: string }
  | { type: 'transfer'; roomId: string; userId: string }
  | { type: 'promote'; roomId: string; userId: string }
  | { type: 'demote'; roomId: string; userId: string };

export interface RoomChangeResult {
  /** The room the command addressed (or created), as committed. */
  room: Room;
  /** What changed, in order; empty when the command changed nothing (e.g. joining the room you are in). */
  events: RoomEvent[];
}

export interface RoomsServiceDeps {
  db: Kysely<DB>;
  rooms: RoomsRepository;
  index: RoomIndex;
  cache: Cache;
  cursors: CursorCodec;
  events: Events;
}

/** The rooms one change has locked, their pending column changes and the events so far. */
class Draft {
  readonly trx: Transaction<DB>;
  readonly now = Date.now();
  readonly events: RoomEvent[] = [];
  readonly #rows = new Map<string, RoomRow>();
  readonly #changes = new Map<string, RoomChange>();
  readonly #created = new Set<string>();

  constructor(trx: Transaction<DB>) {
    this.trx = trx;
  }

  hold(rows: readonly RoomRow[]): void {
    for (const row of rows) this.#rows.set(row.id, { ...row });
  }

  created(row: RoomRow): void {
    this.hold([row]);
    this.#created.add(row.id);
  }

  room(id: string): RoomRow | undefined {
    return this.#rows.get(id);
  }

  set(id: string, change: RoomChange): RoomRow {
    const row = this.#rows.get(id);
    if (!row) throw new Error(`room ${id} changed without its lock`);
    Object.assign(row, change);
    this.#changes.set(id, { ...this.#changes.get(id), ...change });
    return row;
  }

  /** Writes each changed room once, one revision up; returns the committed rows and which were created. */
  async flush(rooms: RoomsRepository): Promise<{ rows: RoomRow[]; created: Set<string> }> {
    const rows: RoomRow[] = [];
    for (const [id, change] of this.#changes) {
      const row = this.#rows.get(id) as RoomRow;
      row.revision += 1;
      await rooms.updateRoom(id, row.revision, change, this.trx);
      rows.push(row);
    }
    return { rows, created: this.#created };
  }
}

export class RoomsService {
  readonly #db: Kysely<DB>;
  readonly #rooms: RoomsRepository;
  readonly #index: RoomIndex;
  readonly #cache: Cache;
  readonly #cursors: CursorCodec;
  readonly #events: Events;

  constructor(deps: RoomsServiceDeps) {
    this.#db = deps.db;
    this.#rooms = deps.rooms;
    this.#index = deps.index;
    this.#cache = deps.cache;
    this.#cursors = deps.cursors;
    this.#events = deps.events;
  }

  /** Applies one state change atomically and returns the committed room and the events it caused. */
  async change(actorId: string, command: RoomCommand): Promise<RoomChangeResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await unitOfWork(
          this.#db,
          async (trx, afterCommit) => {
            const draft = new Draft(trx);
            const roomId = await this.#apply(draft, actorId, command);
            const { rows, created } = await draft.flush(this.#rooms);
            this.#afterCommit(afterCommit, rows, created);
            const room = draft.room(roomId) ?? (await this.#rooms.findById(roomId, trx));
            if (!room) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
            // After the speed layer, so a client refetching on an event reads the new state.
            afterCommit(async () => publishRoomEvents(this.#events, draft.events));
            return { room: roomView(room), events: draft.events };
          },
          { retries: LOCK_RETRIES, isolation: 'read committed' },
        );
      } catch (err) {
        // Two rooms created at once with the same name: the loser picks a suffixed slug on its next try.
        if (command.type === 'create' && isUniqueViolation(err) && attempt < LOCK_RETRIES) continue;
        if (err instanceof TransactionRetriesExhausted) {
          throw new AppError(Errors.SERVICE_UNAVAILABLE, 'the room is busy; retry shortly', {
            headers: { 'retry-after': '1' },
            cause: err,
          });
        }
        throw err;
      }
    }
  }

  async #apply(draft: Draft, actorId: string, command: RoomCommand): Promise<string> {
    switch (command.type) {
      case 'create':
        return this.#create(draft, actorId, command);
      case 'join':
        await this.#join(draft, actorId, command.roomId);
        return command.roomId;
      case 'leave':
        await this.#leave(draft, actorId, command.roomId, command.ifOwner === true);
        return command.roomId;
      case 'update':
        await this.#update(draft, actorId, command);
        return command.roomId;
      case 'close':
        await this.#close(draft, actorId, command.roomId);
        return command.roomId;
      case 'kick':
        await this.#kick(draft, actorId, command.roomId, command.userId);
        return command.roomId;
      case 'transfer':
        await this.#transfer(draft, actorId, command.roomId, command.userId);
        return command.roomId;
      case 'promote':
      case 'demote':
        await this.#setModerator(draft, actorId, command.roomId, command.userId, command.type === 'promote');
        return command.roomId;
    }
  }

  /**
   * Locks the actor, then the rooms `also` names plus the actor's current
   * room, in id order. The current room was read before its lock; if it
   * changed meanwhile (a kick or a close moved the actor out), the
   * transaction starts over.
   */
  async #lockActor(draft: Draft, actorId: string, also: string[]): Promise<MemberRow | undefined> {
    if (!(await this.#rooms.lockUser(actorId, draft.trx))) throw new AppError(RoomErrors.ROOM_FORBIDDEN);
    const current = await this.#rooms.currentOf(actorId, draft.trx);
    draft.hold(await this.#rooms.lockRooms(current ? [...also, current.room_id] : also, draft.trx));
    if (!current) return undefined;
    const member = await this.#rooms.presentMember(current.room_id, actorId, draft.trx);
    if (member?.id !== current.member_id)
      throw new TransactionConflict('current room changed before its lock');
    return member;
  }

  /** Locks one room for a change that does not move the actor (moderation, settings). */
  async #lockRoom(draft: Draft, roomId: string): Promise<RoomRow> {
    const [room] = await this.#rooms.lockRooms([roomId], draft.trx);
    if (!room) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    draft.hold([room]);
    if (room.status === 'closed') throw new AppError(RoomErrors.ROOM_CLOSED);
    return room;
  }

  async #create(
    draft: Draft,
    actorId: string,
    input: Extract<RoomCommand, { type: 'create' }>,
  ): Promise<string> {
    const current = await this.#lockActor(draft, actorId, []);
    const base = slugify(input.name);
    const slug = (await this.#rooms.slugTaken(base, draft.trx)) ? suffixed(base) : base;
    const row: RoomRow = {
      id: uuidv7(),
      slug,
      name: input.name,
      topic: input.topic ?? null,
      language: input.language,
      owner_id: actorId,
      max_participants: input.maxParticipants ?? 50,
      visibility: input.visibility ?? 'public',
      status: 'active',
      participant_count: 0,
      revision: 0,
      created_at: draft.now,
      closed_at: null,
      last_activity_at: draft.now,
    };
    await this.#rooms.insertRoom(row, draft.trx);
    draft.created(row);
    draft.events.push({ type: 'room_created', roomId: row.id, ownerId: actorId });
    if (current) await this.#depart(draft, current, 'moved', actorId);
    await this.#enter(draft, row.id, actorId, 'owner');
    return row.id;
  }

  async #join(draft: Draft, actorId: string, roomId: string): Promise<void> {
    const current = await this.#lockActor(draft, actorId, [roomId]);
    const room = draft.room(roomId);
    if (!room) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    if (current?.room_id === roomId) return; // already in it: nothing changes
    if (room.status === 'closed') throw new AppError(RoomErrors.ROOM_CLOSED);
    const kickedAt = await this.#rooms.kickedSince(roomId, actorId, draft.now - KICK_COOLDOWN_MS, draft.trx);
    if (kickedAt !== undefined) {
      const seconds = Math.ceil((kickedAt + KICK_COOLDOWN_MS - draft.now) / 1000);
      throw new AppError(RoomErrors.ROOM_KICKED, undefined, { headers: { 'retry-after': String(seconds) } });
    }
    if (room.participant_count >= room.max_participants) throw new AppError(RoomErrors.ROOM_FULL);
    if (current) await this.#depart(draft, current, 'moved', actorId);
    await this.#enter(draft, roomId, actorId, 'member');
  }

  async #leave(draft: Draft, actorId: string, roomId: string, ifOwner: boolean): Promise<void> {
    const current = await this.#lockActor(draft, actorId, [roomId]);
    if (!draft.room(roomId)) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    if (current?.room_id !== roomId) throw new AppError(RoomErrors.ROOM_NOT_MEMBER);
    if (ifOwner && current.role !== 'owner') return;
    await this.#depart(draft, current, 'left', actorId);
  }

  async #update(
    draft: Draft,
    actorId: string,
    input: Extract<RoomCommand, { type: 'update' }>,
  ): Promise<void> {
    const room = await this.#lockRoom(draft, input.roomId);
    await this.#requireRole(draft, room, actorId, ['owner', 'moderator']);
    if (input.maxParticipants !== undefined && input.maxParticipants < room.participant_count) {
      throw new AppError(RoomErrors.ROOM_CAPACITY_BELOW_COUNT);
    }
    const changes: Extract<RoomEvent, { type: 'room_updated' }>['changes'] = {};
    if (input.name !== undefined && input.name !== room.name) changes.name = input.name;
    if (input.topic !== undefined && input.topic !== room.topic) changes.topic = input.topic;
    if (input.maxParticipants !== undefined && input.maxParticipants !== room.max_participants) {
      changes.maxParticipants = input.maxParticipants;
    }
    if (Object.keys(changes).length === 0) return;
    draft.set(room.id, {
      ...(changes.name !== undefined && { name: changes.name }),
      ...(changes.topic !== undefined && { topic: changes.topic }),
      ...(changes.maxParticipants !== undefined && { max_participants: changes.maxParticipants }),
      last_activity_at: draft.now,
    });
    draft.events.push({ type: 'room_updated', roomId: room.id, changes });
  }

  async #close(draft: Draft, actorId: string, roomId: string): Promise<void> {
    const [room] = await this.#rooms.lockRooms([roomId], draft.trx);
    if (!room) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    draft.hold([room]);
    if (room.owner_id !== actorId) throw new AppError(RoomErrors.ROOM_FORBIDDEN);
    if (room.status === 'closed') return; // closing a closed room changes nothing
    const memberIds = await this.#rooms.endAllMembers(roomId, 'closed', draft.now, draft.trx);
    draft.set(roomId, {
      status: 'closed',
      closed_at: draft.now,
      participant_count: 0,
      last_activity_at: draft.now,
    });
    draft.events.push({ type: 'room_closed', roomId, reason: 'closed', memberIds });
  }

  async #kick(draft: Draft, actorId: string, roomId: string, userId: string): Promise<void> {
    const room = await this.#lockRoom(draft, roomId);
    const actor = await this.#requireRole(draft, room, actorId, ['owner', 'moderator']);
    const target = await this.#target(draft, roomId, actorId, userId);
    // The owner is never kicked; a moderator may only kick members.
    if (target.role === 'owner' || (actor.role === 'moderator' && target.role === 'moderator')) {
      throw new AppError(RoomErrors.ROOM_FORBIDDEN);
    }
    await this.#depart(draft, target, 'kicked', actorId);
  }

  async #transfer(draft: Draft, actorId: string, roomId: string, userId: string): Promise<void> {
    const room = await this.#lockRoom(draft, roomId);
    const actor = await this.#requireRole(draft, room, actorId, ['owner']);
    const target = await this.#target(draft, roomId, actorId, userId);
    await this.#rooms.setRole(actor.id, 'moderator', draft.trx);
    await this.#rooms.setRole(target.id, 'owner', draft.trx);
    draft.set(roomId, { owner_id: userId, last_activity_at: draft.now });
    draft.events.push({ type: 'owner_changed', roomId, ownerId: userId, previousOwnerId: actorId });
  }

  async #setModerator(
    draft: Draft,
    actorId: string,
    roomId: string,
    userId: string,
    on: boolean,
  ): Promise<void> {
    const room = await this.#lockRoom(draft, roomId);
    await this.#requireRole(draft, room, actorId, ['owner']);
    const target = await this.#target(draft, roomId, actorId, userId);
    const role = on ? 'moderator' : 'member';
    if (target.role === role) return;
    await this.#rooms.setRole(target.id, role, draft.trx);
    draft.set(roomId, { last_activity_at: draft.now });
    draft.events.push({ type: 'member_role_changed', roomId, userId, role });
  }

  /** The actor's stay in the room if their role is one of `roles`; ROOM_FORBIDDEN otherwise. */
  async #requireRole(draft: Draft, room: RoomRow, actorId: string, roles: RoomRole[]): Promise<MemberRow> {
    const member = await this.#rooms.presentMember(room.id, actorId, draft.trx);
    if (!member || !roles.includes(member.role)) throw new AppError(RoomErrors.ROOM_FORBIDDEN);
    return member;
  }

  /** Another user's current stay in the room. */
  async #target(draft: Draft, roomId: string, actorId: string, userId: string): Promise<MemberRow> {
    if (userId === actorId) throw new AppError(RoomErrors.ROOM_INVALID_TARGET);
    const target = await this.#rooms.presentMember(roomId, userId, draft.trx);
    if (!target) throw new AppError(RoomErrors.ROOM_NOT_MEMBER);
    return target;
  }

  async #enter(draft: Draft, roomId: string, userId: string, role: RoomRole): Promise<void> {
    const room = draft.room(roomId) as RoomRow;
    await this.#rooms.insertMember(
      {
        id: uuidv7(),
        room_id: roomId,
        user_id: userId,
        role,
        joined_at: draft.now,
        left_at: null,
        left_reason: null,
      },
      draft.trx,
    );
    draft.set(roomId, { participant_count: room.participant_count + 1, last_activity_at: draft.now });
    draft.events.push({ type: 'member_joined', roomId, userId, role });
  }

  /**
   * Ends a stay (the room is locked) and applies what follows in the same
   * transaction: the last one out closes the room; an owner's leaving passes
   * ownership to the longest-present member, moderators first.
   */
  async #depart(
    draft: Draft,
    member: MemberRow,
    reason: 'left' | 'moved' | 'kicked',
    by: string,
  ): Promise<void> {
    const { room_id: roomId, user_id: userId } = member;
    const room = draft.room(roomId) as RoomRow;
    await this.#rooms.endMember(member, reason, draft.now, draft.trx);
    const count = room.participant_count - 1;
    draft.set(roomId, { participant_count: count, last_activity_at: draft.now });
    draft.events.push(
      reason === 'kicked'
        ? { type: 'member_kicked', roomId, userId, by }
        : { type: 'member_left', roomId, userId, reason },
    );
    if (count === 0) {
      draft.set(roomId, { status: 'closed', closed_at: draft.now });
      draft.events.push({ type: 'room_closed', roomId, reason: 'empty', memberIds: [] });
      return;
    }
    if (member.role !== 'owner') return;
    const heir = await this.#rooms.successor(roomId, userId, draft.trx);
    if (!heir) throw new Error(`room ${roomId} has ${count} participants but no member to inherit it`);
    await this.#rooms.setRole(heir.id, 'owner', draft.trx);
    draft.set(roomId, { owner_id: heir.user_id });
    draft.events.push({ type: 'owner_changed', roomId, ownerId: heir.user_id, previousOwnerId: userId });
  }

  /** After the commit: index first, then cached rooms, then list pages. */
  #afterCommit(afterCommit: AfterCommit, rows: RoomRow[], created: Set<string>): void {
    if (rows.length === 0) return;
    afterCommit(async () => {
      await this.#index.update(rows);
      await this.#cache.invalidate(
        ROOMS,
        rows.map((r) => r.id),
      );
      const slugs = rows.filter((r) => created.has(r.id)).map((r) => r.slug);
      if (slugs.length > 0) await this.#cache.invalidate(SLUGS, slugs); // a cached "no such slug"
      const collections = new Set<string>([collectionOf(undefined)]);
      for (const row of rows) {
        collections.add(collectionOf(row.language));
        if (created.has(row.id) || row.status === 'closed') collections.add(LANGUAGES);
      }
      await this.#cache.bump([...collections]);
    });
  }

  /**
   * Start-up repair. A process that died (kill -9, OOM) between a commit and
   * its after-commit steps left the index and the list pages behind SQL, and
   * nothing records which rooms: every ranking is discarded (its next reader
   * rebuilds it from SQL), then every list collection is bumped, in the
   * after-commit order.
   */
  async resync(): Promise<void> {
    const languages = await this.#rooms.languages();
    await this.#index.discard(languages);
    await this.#cache.bump([collectionOf(undefined), ...languages.map(collectionOf), LANGUAGES]);
  }

  // Reads.

  /** A room by id or slug. An unlisted room is found by slug only by its current members (slugs are guessable). */
  async get(idOrSlug: string, viewerId: string): Promise<Room> {
    const bySlug = !UUID.test(idOrSlug);
    const id = bySlug
      ? await this.#cache.getOrSet(
          SLUGS,
          idOrSlug,
          async () => (await this.#rooms.findIdBySlug(idOrSlug)) ?? null,
          {
            ttl: Ttl.long,
          },
        )
      : idOrSlug;
    const room = id ? await this.#room(id) : null;
    if (!room) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    if (bySlug && room.visibility === 'unlisted') {
      const current = await this.#rooms.currentOf(viewerId);
      if (current?.room_id !== room.id) throw new AppError(RoomErrors.ROOM_NOT_FOUND);
    }
    return room;
  }

  /** The caller's current room, or undefined. Read from SQL: it is authorization data. */
  async currentRoom(userId: string): Promise<Room | undefined> {
    const current = await this.#rooms.currentOf(userId);
    const room = current && (await this.#rooms.findById(current.room_id));
    return room ? roomView(room) : undefined;
  }

  /**
   * These users were away (no socket on any instance) for the owner grace: each who owns
   * their current room leaves it, and ownership passes on (SPEC §5). One query finds the
   * owners among them (few, even when a mass disconnect's graces end together); whether
   * each still owns the room is decided under the room's lock, so a second caller (another
   * instance, a repeated timer) or a transfer meanwhile changes nothing. Every owner is
   * tried; the first unexpected failure is thrown afterwards.
   */
  async ownersAway(userIds: readonly string[]): Promise<void> {
    let failure: unknown;
    for (const { user_id, room_id } of await this.#rooms.ownedCurrentRooms(userIds)) {
      try {
        await this.change(user_id, { type: 'leave', roomId: room_id, ifOwner: true });
      } catch (err) {
        // They left or were moved out since the read: nothing is left to do.
        if (!(err instanceof AppError && err.code === RoomErrors.ROOM_NOT_MEMBER)) failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** The id of the user's current room, or undefined; from SQL (it authorizes `typing`). */
  async currentRoomId(userId: string): Promise<string | undefined> {
    return (await this.#rooms.currentOf(userId))?.room_id;
  }

  /** The current room of each of these users who is in one (user id → room id); one SQL query. */
  async currentRoomIds(userIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.#rooms.currentRoomsOf(userIds);
    return new Map(rows.map((r) => [r.user_id, r.room_id]));
  }

  /** Active public rooms (of one language), most participants first, then newest; see the walk above. */
  async list(language: string | undefined, limit: number, cursor: string | undefined): Promise<RoomPage> {
    const collection = collectionOf(language);
    const options = { ttl: Ttl.short };
    if (cursor === undefined) {
      return this.#cache.getOrSetPage(
        PAGES,
        collection,
        `first:${limit}`,
        () => this.#firstPage(language, limit),
        options,
      );
    }
    const at = this.#decodeWalk(cursor, language);
    if (at.walk !== null) {
      const walk = await this.#cache.getOrSet<Ranked[] | null>(WALKS, at.walk, async () => null, {
        ttl: WALK_TTL,
      });
      if (walk) {
        const page = `walk:${at.walk}:${at.offset}:${limit}`;
        return this.#cache.getOrSetPage(
          PAGES,
          collection,
          page,
          () => this.#walkPage(walk, at.walk as string, language, at.offset, limit),
          options,
        );
      }
    }
    return this.#sqlPage(language, limit, at.after);
  }

  /** Active public rooms per language. */
  async languages(): Promise<LanguageCounts> {
    return this.#cache.getOrSetPage(
      PAGES,
      LANGUAGES,
      'all',
      async () => ({ items: await this.#rooms.languageCounts() }),
      {
        ttl: Ttl.short,
      },
    );
  }

  /** The room's current members in joining order; the room must be one the caller can see. */
  async participants(
    roomId: string,
    viewerId: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<ParticipantPage> {
    await this.get(roomId, viewerId);
    const after =
      cursor === undefined ? undefined : (this.#cursors.decode(`members:${roomId}`, cursor) as unknown);
    if (after !== undefined && !isMemberPosition(after)) throw new AppError(Errors.CURSOR_INVALID);
    const rows = await this.#rooms.participants(roomId, limit + 1, after);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((m) => ({
        userId: m.user_id,
        role: m.role,
        joinedAt: new Date(m.joined_at).toISOString(),
      })),
      nextCursor:
        rows.length > limit && last
          ? this.#cursors.encode(`members:${roomId}`, { joinedAt: last.joined_at, id: last.id })
          : null,
    };
  }

  async #room(id: string): Promise<Room | null> {
    return this.#cache.getOrSet(
      ROOMS,
      id,
      async () => {
        const row = await this.#rooms.findById(id);
        return row ? roomView(row) : null;
      },
      { ttl: Ttl.medium },
    );
  }

  /** The first page: pins the current order as the walk's snapshot when more pages follow. */
  async #firstPage(language: string | undefined, limit: number): Promise<RoomPage> {
    const ranked = await this.#index.ordered(language, WALK_MAX);
    let walk: string | null = null;
    if (ranked.length > limit) {
      walk = randomUUID();
      await this.#cache.getOrSet(WALKS, walk, async () => ranked, { ttl: WALK_TTL });
    }
    return this.#walkPage(ranked, walk, language, 0, limit);
  }

  async #walkPage(
    ranked: Ranked[],
    walk: string | null,
    language: string | undefined,
    offset: number,
    limit: number,
  ): Promise<RoomPage> {
    const slice = ranked.slice(offset, offset + limit);
    const rows = new Map((await this.#rooms.findMany(slice.map((r) => r.id))).map((r) => [r.id, r]));
    const items = slice
      .map((r) => rows.get(r.id))
      .filter((r): r is RoomRow => r !== undefined && r.status === 'active')
      .map(roomView);
    const last = slice.at(-1);
    const more = offset + limit < ranked.length || (ranked.length >= WALK_MAX && slice.length === limit);
    const next =
      more && last
        ? this.#encodeWalk(language, {
            walk: offset + limit < ranked.length ? walk : null,
            offset: offset + limit,
            after: { count: countOf(last.score), createdAt: createdAtOf(last.score), id: last.id },
          })
        : null;
    return { items, nextCursor: next };
  }

  /** Continues a walk whose snapshot is gone, in SQL order after the cursor's last room. */
  async #sqlPage(language: string | undefined, limit: number, after: ListPosition): Promise<RoomPage> {
    const rows = await this.#rooms.listActive(language, limit + 1, after);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(roomView),
      nextCursor:
        rows.length > limit && last
          ? this.#encodeWalk(language, {
              walk: null,
              offset: 0,
              after: { count: last.participant_count, createdAt: last.created_at, id: last.id },
            })
          : null,
    };
  }

  #encodeWalk(language: string | undefined, at: WalkPosition): string {
    return this.#cursors.encode(`rooms:${language ?? '*'}`, at);
  }

  /** The walk position of a cursor issued for this same list; CURSOR_INVALID otherwise. */
  #decodeWalk(cursor: string, language: string | undefined): WalkPosition {
    const at = this.#cursors.decode(`rooms:${language ?? '*'}`, cursor) as WalkPosition;
    const valid =
      typeof at === 'object' &&
      at !== null &&
      (at.walk === null || (typeof at.walk === 'string' && UUID.test(at.walk))) &&
      Number.isSafeInteger(at.offset) &&
      at.offset >= 0 &&
      at.offset <= WALK_MAX &&
      isListPosition(at.after);
    if (!valid) throw new AppError(Errors.CURSOR_INVALID);
    return at;
  }
}

interface WalkPosition {
  /** The snapshot's id, or null when the walk continues in SQL order. */
  walk: string | null;
  offset: number;
  /** The last room handed out, for continuing without the snapshot. */
  after: ListPosition;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isListPosition(v: unknown): v is ListPosition {
  const p = v as ListPosition;
  return (
    typeof p === 'object' &&
    p !== null &&
    Number.isSafeInteger(p.count) &&
    Number.isSafeInteger(p.createdAt) &&
    typeof p.id === 'string' &&
    UUID.test(p.id)
  );
}

function isMemberPosition(v: unknown): v is { joinedAt: number; id: string } {
  const p = v as { joinedAt: unknown; id: unknown };
  return (
    typeof p === 'object' &&
    p !== null &&
    Number.isSafeInteger(p.joinedAt) &&
    typeof p.id === 'string' &&
    UUID.test(p.id)
  );
}

export function roomView(row: RoomRow): Room {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    topic: row.topic,
    language: row.language,
    visibility: row.visibility,
    status: row.status,
    ownerId: row.owner_id,
    participantCount: row.participant_count,
    maxParticipants: row.max_participants,
    createdAt: new Date(row.created_at).toISOString(),
    lastActivityAt: new Date(row.last_activity_at).toISOString(),
  };
}
