/**
 * Password policy and hashing. Policy (OWASP ASVS 5 §6.2): 8 to 128 characters
 * counted as Unicode code points, any characters but NUL, no composition rules,
 * never truncated or transformed, and not one of the 10,000 most common
 * passwords (data/common-passwords.txt). Hashing: argon2id at OWASP's
 * m = 19 MiB, t = 2, p = 1, computed on the libuv thread pool and capped at
 * `concurrency` at a time, so a login flood queues instead of starving other
 * requests. Hashes made with weaker parameters are upgraded on the next
 * successful login.
 */
import { readFileSync } from 'node:fs';
import { hash, verify } from '@node-rs/argon2';

// `algorithm: 2` is Algorithm.Argon2id (a const enum, which type stripping cannot inline).
export const ARGON2_PARAMS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

const common = new Set(
  readFileSync(new URL('./data/common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean),
);

/** Why a password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  if (password.includes('\u0000')) return 'must not contain NUL characters';
  if (!password.isWellFormed()) return 'must be valid Unicode';
  if (common.has(password.toLowerCase())) return 'is too common; choose a less predictable password';
  return undefined;
}

/** Tasks running now, and tasks waiting for a slot. */
export interface Load {
  active: number;
  waiting: number;
}

/** A counting semaphore: at most `limit` holders at once, the rest wait in order. */
class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get load(): Load {
    return { active: this.#active, waiting: this.#waiting.length };
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active += 1;
    try {
      return await task();
    } finally {
      this.#active -= 1;
      this.#waiting.shift()?.();
    }
  }
}

export class Passwords {
  readonly #gate: Semaphore;
  /** Verified against when the account does not exist, so both cases cost one argon2 verify. */
  readonly #dummy: Promise<string>;

  constructor(concurrency: number) {
    this.#gate = new Semaphore(concurrency);
    this.#dummy = hash('parley-timing-parity-dummy', ARGON2_PARAMS);
  }

  /** argon2 computations running now and queued behind the concurrency cap (for /metrics). */
  get load(): Load {
    return this.#gate.load;
  }

  hash(password: string): Promise<string> {
    return this.#gate.run(() => hash(password, ARGON2_PARAMS));
  }

  /** Verifies against `stored`, or against a dummy hash when there is none (timing parity). */
  async verify(stored: string | null | undefined, password: string): Promise<boolean> {
    const target = stored ?? (await this.#dummy);
    const ok = await this.#gate.run(() => verify(target, password).catch(() => false));
    return ok && stored != null;
  }

  /** True when `stored` was made with other parameters than the current ones. */
  needsRehash(stored: string): boolean {
    const { memoryCost: m, timeCost: t, parallelism: p } = ARGON2_PARAMS;
    return !stored.startsWith(`$argon2id$v=19$m=${m},t=${t},p=${p}$`);
  }
}
