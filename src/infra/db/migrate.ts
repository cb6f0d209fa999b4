/**
 * Applies the schema with Kysely's Migrator. Safe to call on every start: the
 * migrator records what ran in `kysely_migration` and takes a lock, so two
 * instances starting together do not apply a migration twice.
 */
import type { Kysely } from 'kysely';
import { type MigrationResultSet, Migrator } from 'kysely/migration';
import { migrations } from './migrations/index.ts';

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function unwrap({ error, results }: MigrationResultSet): string[] {
  if (error) throw error;
  return (results ?? []).map((r) => `${r.direction} ${r.migrationName}: ${r.status}`);
}

/** Runs every pending migration; returns one line per migration applied. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest());
}

/** Reverts the most recent migration. */
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateDown());
}
