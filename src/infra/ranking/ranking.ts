/**
 * The Rankings port: named sets of ids ordered by a numeric score (Redis
 * sorted sets, or process memory in embedded mode), kept as a speed-layer copy
 * of a SQL truth and rebuilt from it.
 *
 * Every entry carries the revision of the SQL row it mirrors: an update only
 * lands if its revision is newer than the one recorded, so updates sent after
 * their commits may arrive in any order and the newest still wins.
 *
 * A set is readable only once built. Building is two steps around the SQL
 * read: `beginRebuild` empties the set and marks it building, the caller reads
 * SQL, then `finishRebuild` merges that snapshot under the same newer-revision
 * rule (so an update committed after the read, and applied meanwhile, is not
 * overwritten) and marks the set ready. A ready mark lives `readyTtlMs`, so a
 * set is rebuilt from SQL at least that often: an update lost to a crash
 * between commit and apply heals within that time.
 */

export interface RankEntry {
  id: string;
  /** The mirrored SQL row's revision; older updates than the recorded one are ignored. */
  revision: number;
  /** The entry's score, or null to remove it (the revision is still recorded). */
  score: number | null;
}

export interface Ranked {
  id: string;
  score: number;
}

/** Why a set could not be read: never built (or lost), or being built by someone. */
export type NotReady = 'absent' | 'building';

export interface Rankings {
  /** Applies each entry if its revision is newer than the recorded one; atomic per set. */
  apply(set: string, entries: readonly RankEntry[]): Promise<void>;
  /** Entries from the highest score down (ties: the greater id first), positions `start..stop` inclusive. */
  range(set: string, start: number, stop: number): Promise<Ranked[] | NotReady>;
  /** Empties the set and marks it building; returns the token `finishRebuild` needs. */
  beginRebuild(set: string): Promise<string>;
  /** Merges `entries` and marks the set ready; false (nothing written) if another rebuild took over. */
  finishRebuild(set: string, token: string, entries: readonly RankEntry[]): Promise<boolean>;
  /** Marks sets unbuilt: their next reader rebuilds them. */
  discard(sets: readonly string[]): Promise<void>;
}

/** How long a built set is trusted before it is rebuilt from SQL (bounds the effect of a lost update). */
export const READY_TTL_MS = 10 * 60_000;
/** How long a rebuild may take before another reader may start one. */
export const BUILDING_TTL_MS = 30_000;
