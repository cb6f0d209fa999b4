/**
 * Presence rules: a user is online while at least one of their connections is
 * live on any instance (tabs count once); a connection lives for the presence
 * TTL past its last heartbeat, so a crashed instance's users go offline within
 * the TTL (the sweep here finds them). `presence:changed` is published on
 * transitions only; `lastSeenAt` goes to SQL in batches, never per heartbeat.
 * A user still offline a grace (ROOM_OWNER_GRACE) after going offline is
 * reported `away` (a room owner then leaves their room).
 */
import { AppError, Errors } from '../../errors.ts';
import type { Audience, Events } from '../../events.ts';
import type { PresenceStore } from '../../infra/presence/store.ts';
import { BatchQueue } from '../../lib/batch-queue.ts';
import type { UsersService } from '../users/index.ts';
import type { OnlinePage, Presence, PresenceState, UserProfile } from './presence.schemas.ts';

const FLUSH_INTERVAL_MS = 5000;
const SWEEP_BATCH = 500;
/** Users whose current room one audience query reads (see #rooms). */
const AUDIENCE_BATCH = 500;
/** Ended graces one check handles (see #graceEnds). */
const GRACE_BATCH = 500;
/**
 * How long the first ended grace waits for others: a mass disconnect's transitions, and so
 * their graces' ends, come spread over a few hundred ms. Small beside ROOM_OWNER_GRACE (30 s).
 */
const GRACE_WINDOW_MS = 250;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface PresenceServiceDeps {
  store: PresenceStore;
  users: UsersService;
  events: Events;
  ttlMs: number;
  /** The current room of each of these users who is in one (user id → room id): its members hear of their transitions. */
  currentRoomsOf(userIds: string[]): Promise<ReadonlyMap<string, string>>;
  /** How long a user stays offline before `away` is called (ROOM_OWNER_GRACE). */
  graceMs: number;
  /** These users went offline `graceMs` ago and have not come back (a room owner among them leaves). */
  away(userIds: string[]): Promise<void>;
  log: { warn(obj: object, msg: string): void };
}

export class PresenceService {
  readonly #d: PresenceServiceDeps;
  /** Offline times not yet written to SQL: user id → epoch ms. */
  #unsaved = new Map<string, number>();
  #timers: NodeJS.Timeout[] = [];
  /** Graces running on this instance: user id → timer. */
  #graces = new Map<string, NodeJS.Timeout>();
  /** Set by stop(): an instance shutting down starts no grace and ends none (its pools are closing). */
  #stopped = false;
  /**
   * The current rooms of transitioning users, read in batches: when many sockets go at once (a
   * network drop, a peer instance's connections lapsing) their transitions share a few queries
   * instead of one each, which queued the SQL pool; and announcements keep the transitions' order.
   */
  readonly #rooms: BatchQueue<string, string>;
  /** Graces that ended, checked in batches: those of a mass disconnect end together too. */
  readonly #graceEnds: BatchQueue<{ userId: string; at: number }>;

  constructor(deps: PresenceServiceDeps) {
    this.#d = deps;
    this.#rooms = new BatchQueue((ids) => deps.currentRoomsOf(ids), { max: AUDIENCE_BATCH });
    this.#graceEnds = new BatchQueue((ended) => this.#graceOver(ended), {
      max: GRACE_BATCH,
      windowMs: GRACE_WINDOW_MS,
    });
  }

  /** A socket connected, or heartbeated: both (re-)register the connection for one TTL. */
  async touch(userId: string, connectionId: string): Promise<void> {
    if (await this.#d.store.touch(userId, connectionId, this.#d.ttlMs)) {
      clearTimeout(this.#graces.get(userId));
      this.#graces.delete(userId);
      await this.#changed(userId, 'online', null);
    }
  }

  /** A socket closed for good (not an instance shutting down: then its connections are left to expire). */
  async disconnected(userId: string, connectionId: string): Promise<void> {
    if (await this.#d.store.leave(userId, connectionId)) await this.#wentOffline(userId);
  }

  /** Each user's status and last offline time, in the order asked. */
  async statuses(userIds: readonly string[]): Promise<Presence[]> {
    const online = await this.#d.store.status(userIds);
    const offline = userIds.filter((_, i) => !online[i]);
    const saved = offline.length > 0 ? await this.#d.users.lastSeen(offline) : new Map<string, number>();
    return userIds.map((userId, i) => ({
      userId,
      ...this.#state(userId, online[i] === true, saved.get(userId)),
    }));
  }

  /**
   * A user's public profile with their presence (GET /v1/users/:id): the status from one
   * presence-store call, lastSeenAt as `statuses` gives it but through the users module's
   * cache, so a warm profile read runs no SQL and is served while SQL is down, as before.
   */
  async profile(userId: string): Promise<UserProfile> {
    const [profile, [online], saved] = await Promise.all([
      this.#d.users.getPublicProfile(userId),
      this.#d.store.status([userId]),
      this.#d.users.lastSeenOf(userId),
    ]);
    return { ...profile, presence: this.#state(userId, online === true, saved ?? undefined) };
  }

  /** Online, or offline since this instance's unsaved time if any, else `saved` (SQL). */
  #state(userId: string, online: boolean, saved: number | undefined): PresenceState {
    if (online) return { status: 'online', lastSeenAt: null };
    const at = this.#unsaved.get(userId) ?? saved;
    return { status: 'offline', lastSeenAt: at === undefined ? null : new Date(at).toISOString() };
  }

  /** One page of online users (id order) and how many are online. */
  async onlinePage(cursor: string | undefined, limit: number): Promise<OnlinePage> {
    let after: string | undefined;
    if (cursor !== undefined) {
      after = Buffer.from(cursor, 'base64url').toString();
      if (!UUID.test(after) || Buffer.from(after).toString('base64url') !== cursor)
        throw new AppError(Errors.CURSOR_INVALID);
    }
    const page = await this.#d.store.online(after, limit);
    return {
      count: page.count,
      items: page.ids.map((userId) => ({ userId })),
      nextCursor: page.nextCursor === null ? null : Buffer.from(page.nextCursor).toString('base64url'),
    };
  }

  /** Starts the sweep of expired connections and the batched lastSeenAt writes. */
  start(): void {
    const sweepEvery = Math.min(15_000, Math.max(250, Math.floor(this.#d.ttlMs / 4)));
    this.#timers.push(
      setInterval(() => void this.#sweep(), sweepEvery).unref(),
      setInterval(() => void this.flush(), FLUSH_INTERVAL_MS).unref(),
    );
  }

  /** Stops the timers and writes what is pending. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    for (const timer of this.#graces.values()) clearTimeout(timer);
    this.#graces.clear();
    await this.flush();
  }

  /** Writes the pending lastSeenAt times to SQL; kept for the next flush if SQL refuses. */
  async flush(): Promise<void> {
    if (this.#unsaved.size === 0) return;
    const batch = this.#unsaved;
    this.#unsaved = new Map();
    try {
      await this.#d.users.recordLastSeen(batch);
    } catch (err) {
      for (const [id, at] of batch) if (!this.#unsaved.has(id)) this.#unsaved.set(id, at);
      this.#d.log.warn({ err, pending: this.#unsaved.size }, 'presence: lastSeenAt not saved; retrying');
    }
  }

  async #sweep(): Promise<void> {
    try {
      // All at once, not one after another: their audiences are then read in one batch.
      await Promise.all((await this.#d.store.sweep(SWEEP_BATCH)).map((userId) => this.#wentOffline(userId)));
    } catch (err) {
      this.#d.log.warn({ err }, 'presence: sweep failed');
    }
  }

  async #wentOffline(userId: string): Promise<void> {
    const at = Date.now();
    this.#unsaved.set(userId, at);
    clearTimeout(this.#graces.get(userId));
    if (!this.#stopped) {
      const ended = () => {
        this.#graces.delete(userId);
        if (!this.#stopped) void this.#graceEnds.add({ userId, at });
      };
      this.#graces.set(userId, setTimeout(ended, this.#d.graceMs).unref());
    }
    await this.#changed(userId, 'offline', new Date(at).toISOString());
  }

  /**
   * One instance announces each offline transition (the store decides it atomically), so one
   * grace runs per transition. It ends in `away` only if the user is still offline since that
   * transition: back online, or offline again since (that transition has its own grace, maybe
   * on another instance, whose lastSeenAt is newer), it does nothing. Never throws.
   */
  async #graceOver(ended: { userId: string; at: number }[]): Promise<undefined> {
    if (this.#stopped) return undefined;
    try {
      const now = await this.statuses(ended.map((e) => e.userId));
      const away = ended.filter(
        (e, i) => now[i]?.status === 'offline' && now[i].lastSeenAt === new Date(e.at).toISOString(),
      );
      if (away.length > 0) await this.#d.away(away.map((e) => e.userId));
    } catch (err) {
      // A grace that ended while the instance shut down lost its pools: nothing to report.
      if (!this.#stopped) this.#d.log.warn({ err }, 'presence: the end of a grace was not applied');
    }
    return undefined;
  }

  async #changed(userId: string, status: 'online' | 'offline', lastSeenAt: string | null): Promise<void> {
    this.#d.events.publish('client.deliver', {
      type: 'presence:changed',
      data: { userId, status, lastSeenAt },
      to: await this.#audienceOf(userId),
    });
  }

  /**
   * Who hears of a user's transitions: their own sockets (other tabs and devices) and
   * their current room's members; conversation partners join this audience when the
   * conversations module exists (SPEC §6). Without SQL, the user's own sockets only.
   */
  async #audienceOf(userId: string): Promise<Audience> {
    try {
      const room = await this.#rooms.add(userId);
      return { users: [userId], ...(room !== undefined && { rooms: [room] }) };
    } catch (err) {
      this.#d.log.warn({ err }, 'presence: current room unknown; telling the user only');
      return { users: [userId] };
    }
  }
}
