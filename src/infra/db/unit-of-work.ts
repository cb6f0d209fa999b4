/**
 * A transaction with after-commit hooks: the place where "invalidate the cache
 * only after the SQL commit" is enforced. Hooks registered with `afterCommit`
 * run once the transaction has committed, in order; a rollback runs none.
 */
import type { Kysely, Transaction } from 'kysely';
import type { DB } from './schema.ts';

export type AfterCommit = (hook: () => Promise<void>) => void;

export async function unitOfWork<T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>, afterCommit: AfterCommit) => Promise<T>,
): Promise<T> {
  const hooks: (() => Promise<void>)[] = [];
  const result = await db.transaction().execute((trx) => work(trx, (hook) => hooks.push(hook)));
  for (const hook of hooks) await hook();
  return result;
}
