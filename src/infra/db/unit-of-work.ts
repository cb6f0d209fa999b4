/**
 * A transaction with after-commit hooks: the place where "invalidate the cache
 * only after the SQL commit" is enforced. Hooks registered with `afterCommit`
 * run once the transaction has committed, in order; a rollback runs none.
 *
 * Optionally the transaction is retried as a whole when it lost a lock race:
 * a MySQL deadlock (1213) or lock-wait timeout (1205), or a `TransactionConflict`
 * the work threw because what it read before taking its locks has changed.
 * Hooks of a failed attempt are dropped with it.
 */
import type { IsolationLevel, Kysely, Transaction } from 'kysely';
import type { DB } from './schema.ts';

export type AfterCommit = (hook: () => Promise<void>) => void;

export interface UnitOfWorkOptions {
  /** Attempts after the first when the transaction loses a lock race (default 0). */
  retries?: number;
  /** MySQL isolation level; SQLite serialises transactions and ignores it. */
  isolation?: IsolationLevel;
}

/** Thrown by work whose unlocked reads went stale before its locks were taken: run it again. */
export class TransactionConflict extends Error {
  constructor(what: string) {
    super(`transaction conflict: ${what}`);
    this.name = 'TransactionConflict';
  }
}

/** Retries exhausted: the caller should answer "busy, retry shortly", never a 500. */
export class TransactionRetriesExhausted extends Error {
  constructor(cause: unknown) {
    super('transaction kept losing lock races', { cause });
    this.name = 'TransactionRetriesExhausted';
  }
}

/** MySQL's lock-race errors (ER_LOCK_DEADLOCK 1213, ER_LOCK_WAIT_TIMEOUT 1205), which are safe to retry. */
export function isLockConflict(error: unknown): boolean {
  if (error instanceof TransactionConflict) return true;
  const errno = (error as { errno?: unknown } | null)?.errno;
  return errno === 1213 || errno === 1205;
}

export async function unitOfWork<T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>, afterCommit: AfterCommit) => Promise<T>,
  options: UnitOfWorkOptions = {},
): Promise<T> {
  const { retries = 0, isolation } = options;
  for (let attempt = 0; ; attempt++) {
    const hooks: (() => Promise<void>)[] = [];
    const begin = isolation ? db.transaction().setIsolationLevel(isolation) : db.transaction();
    let result: T;
    try {
      result = await begin.execute((trx) => work(trx, (hook) => hooks.push(hook)));
    } catch (err) {
      if (!isLockConflict(err)) throw err;
      if (attempt >= retries) throw new TransactionRetriesExhausted(err);
      continue;
    }
    for (const hook of hooks) await hook();
    return result;
  }
}
