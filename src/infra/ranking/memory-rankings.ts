/** Rankings in process memory (embedded mode, tests): the same contract as Redis, one process. */
import { randomUUID } from 'node:crypto';
import {
  BUILDING_TTL_MS,
  type NotReady,
  type RankEntry,
  type Ranked,
  type Rankings,
  READY_TTL_MS,
} from './ranking.ts';

interface SetState {
  scores: Map<string, number>;
  revisions: Map<string, number>;
  /** 'ready', a building token, or absent; with its expiry. */
  mark: { value: string; expiresAt: number } | undefined;
}

export class MemoryRankings implements Rankings {
  readonly #sets = new Map<string, SetState>();

  #state(set: string): SetState {
    let state = this.#sets.get(set);
    if (!state) {
      state = { scores: new Map(), revisions: new Map(), mark: undefined };
      this.#sets.set(set, state);
    }
    if (state.mark && state.mark.expiresAt <= Date.now()) state.mark = undefined;
    return state;
  }

  async apply(set: string, entries: readonly RankEntry[]): Promise<void> {
    const state = this.#state(set);
    for (const entry of entries) merge(state, entry);
  }

  async range(set: string, start: number, stop: number): Promise<Ranked[] | NotReady> {
    const { mark, scores } = this.#state(set);
    if (!mark) return 'absent';
    if (mark.value !== 'ready') return 'building';
    const sorted = [...scores].sort(([a, x], [b, y]) => y - x || (a < b ? 1 : a > b ? -1 : 0));
    const end = stop < 0 ? sorted.length + stop + 1 : stop + 1; // Redis semantics: -1 is the last
    return sorted.slice(start, end).map(([id, score]) => ({ id, score }));
  }

  async beginRebuild(set: string): Promise<string> {
    const token = randomUUID();
    const state = this.#state(set);
    state.scores.clear();
    state.revisions.clear();
    state.mark = { value: token, expiresAt: Date.now() + BUILDING_TTL_MS };
    return token;
  }

  async finishRebuild(set: string, token: string, entries: readonly RankEntry[]): Promise<boolean> {
    const state = this.#state(set);
    if (state.mark?.value !== token) return false;
    for (const entry of entries) merge(state, entry);
    state.mark = { value: 'ready', expiresAt: Date.now() + READY_TTL_MS };
    return true;
  }

  async discard(sets: readonly string[]): Promise<void> {
    for (const set of sets) {
      const state = this.#sets.get(set);
      if (state) state.mark = undefined;
    }
  }
}

function merge(state: SetState, { id, revision, score }: RankEntry): void {
  const recorded = state.revisions.get(id);
  if (recorded !== undefined && recorded >= revision) return;
  state.revisions.set(id, revision);
  if (score === null) state.scores.delete(id);
  else state.scores.set(id, score);
}
