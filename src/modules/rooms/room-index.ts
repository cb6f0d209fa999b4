/**
 * The active-room index in the speed layer: per language (and one for all
 * languages), the active public rooms ranked by participants, then newest —
 * a Rankings port (infra/ranking) whose score packs both:
 * `participant_count · 2^42 + created_at` (exact in a double while counts
 * stay ≤ 500 and dates before 2109), so the participant count lives in the
 * index too. Equal scores order by the greater id, as the SQL order does.
 *
 * SQL is the truth: a ranking that is absent (never built, flushed, expired
 * or discarded after Redis came back) is rebuilt from SQL by its first reader;
 * while one is being built, or Redis is down, readers get the SQL order.
 */
import type { RankEntry, Ranked, Rankings } from '../../infra/ranking/ranking.ts';
import type { RoomRow } from './rooms.repository.ts';

const COUNT_UNIT = 2 ** 42;
/** Rooms read from SQL to rebuild one ranking; beyond this, the lowest-ranked are left out. */
const REBUILD_MAX = 100_000;

export const rankScore = (count: number, createdAt: number): number => count * COUNT_UNIT + createdAt;
export const countOf = (score: number): number => Math.floor(score / COUNT_UNIT);
export const createdAtOf = (score: number): number => score % COUNT_UNIT;

/** The ranking of one language's rooms, or of all rooms. */
export const rankingOf = (language: string | undefined): string =>
  language === undefined ? 'rooms:all' : `rooms:lang:${language}`;

export interface RankedSource {
  /** Active public rooms in rank order, at most `limit`. */
  listActive(language: string | undefined, limit: number): Promise<RoomRow[]>;
}

export interface IndexLog {
  warn(obj: object, msg: string): void;
}

export class RoomIndex {
  readonly #rankings: Rankings;
  readonly #source: RankedSource;
  readonly #log: IndexLog;

  constructor(rankings: Rankings, source: RankedSource, log: IndexLog) {
    this.#rankings = rankings;
    this.#source = source;
    this.#log = log;
  }

  /**
   * Records committed room rows (call after commit). Never throws: an update
   * that cannot reach the speed layer leaves its ranking to be rebuilt.
   */
  async update(rooms: readonly RoomRow[]): Promise<void> {
    const bySet = new Map<string, RankEntry[]>();
    for (const room of rooms) {
      const entry = entryOf(room);
      for (const set of [rankingOf(room.language), rankingOf(undefined)]) {
        bySet.set(set, [...(bySet.get(set) ?? []), entry]);
      }
    }
    await Promise.all(
      [...bySet].map(([set, entries]) =>
        this.#rankings.apply(set, entries).catch((err: unknown) => {
          this.#log.warn({ err, set }, 'room index update failed; the ranking will be rebuilt from SQL');
        }),
      ),
    );
  }

  /** Marks the rankings of `languages` and of all languages unbuilt: their next readers rebuild them from SQL. */
  async discard(languages: readonly string[]): Promise<void> {
    await this.#rankings.discard([rankingOf(undefined), ...languages.map(rankingOf)]);
  }

  /** The first `max` rooms in rank order, from the index when it is built, from SQL otherwise. */
  async ordered(language: string | undefined, max: number): Promise<Ranked[]> {
    const set = rankingOf(language);
    try {
      const ranked = await this.#rankings.range(set, 0, max - 1);
      if (ranked === 'absent') return (await this.#rebuild(set, language)).slice(0, max);
      if (ranked !== 'building') return ranked;
    } catch (err) {
      this.#log.warn({ err, set }, 'room index unavailable; listing from SQL');
    }
    return (await this.#source.listActive(language, max)).map(rankedOf);
  }

  /** Rebuilds the ranking from SQL and returns what SQL said (whether or not it could be stored). */
  async #rebuild(set: string, language: string | undefined): Promise<Ranked[]> {
    const token = await this.#rankings.beginRebuild(set);
    const rows = await this.#source.listActive(language, REBUILD_MAX);
    await this.#rankings.finishRebuild(set, token, rows.map(entryOf)).catch((err: unknown) => {
      this.#log.warn({ err, set }, 'room index rebuild could not be stored');
    });
    return rows.map(rankedOf);
  }
}

function entryOf(room: RoomRow): RankEntry {
  const listed = room.status === 'active' && room.visibility === 'public';
  return {
    id: room.id,
    revision: room.revision,
    score: listed ? rankScore(room.participant_count, room.created_at) : null,
  };
}

function rankedOf(room: RoomRow): Ranked {
  return { id: room.id, score: rankScore(room.participant_count, room.created_at) };
}
