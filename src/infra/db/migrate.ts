/**
 * Applies the schema with Kysely's Migrator and compares a database with this
 * build's migrations. Safe to call on every start: the migrator records what
 * ran in `kysely_migration` and takes a lock, so two instances starting
 * together do not apply a migration twice.
 */
import type { Kysely } from 'kysely';
import { DEFAULT_MIGRATION_TABLE, type MigrationResultSet, Migrator } from 'kysely/migration';
import { errorText } from './kysely.ts';
import { migrations } from './migrations/index.ts';

/** How a database differs from this build: migrations still to apply, and ones only a newer build knows. */
export interface SchemaStatus {
  pending: string[];
  unknown: string[];
}

/**
 * The database's schema does not match this build: migrations are pending (and
 * auto-migrate is off), or it records migrations this build does not know. The
 * message is one line naming the command that fixes it.
 */
export class SchemaMismatchError extends Error {
  readonly status: SchemaStatus;
  constructor(status: SchemaStatus) {
    super(SchemaMismatchError.describe(status));
    this.name = 'SchemaMismatchError';
    this.status = status;
  }

  static describe({ pending, unknown }: SchemaStatus): string {
    if (unknown.length > 0) {
      return `the database has ${count(unknown, 'migration')} this build does not know (${names(unknown)}); deploy the newer build or run "npm run migrate down" with it`;
    }
    return `the database has ${count(pending, 'pending migration')} (${names(pending)}); run "npm run migrate" or start with DATABASE_AUTO_MIGRATE=true`;
  }
}

/** A migration's `up` or `down` threw; `completed` lists the lines of the ones that ran before it. */
export class MigrationFailedError extends Error {
  readonly migration: string;
  readonly completed: string[];
  constructor(migration: string, direction: 'Up' | 'Down', completed: string[], cause: unknown) {
    const verb = direction === 'Up' ? 'applying' : 'reverting';
    super(`${verb} ${migration} failed: ${errorText(cause)}`, { cause });
    this.name = 'MigrationFailedError';
    this.migration = migration;
    this.completed = completed;
  }
}

function count(items: string[], noun: string): string {
  return `${items.length} ${noun}${items.length === 1 ? '' : 's'}`;
}

/** At most three names, so the line stays one readable line however far behind the database is. */
function names(items: string[]): string {
  return items.length > 3 ? `${items.slice(0, 3).join(', ')}, …` : items.join(', ');
}

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function unwrap({ error, results = [] }: MigrationResultSet): string[] {
  const done = results
    .filter((r) => r.status === 'Success')
    .map((r) => `${r.direction === 'Up' ? 'applied' : 'reverted'} ${r.migrationName}`);
  if (!error) return done;
  const failed = results.find((r) => r.status === 'Error');
  if (failed) throw new MigrationFailedError(failed.migrationName, failed.direction, done, error);
  throw error;
}

/** Compares `kysely_migration` with this build's list (src/infra/db/migrations/index.ts). */
export async function schemaStatus(db: Kysely<any>): Promise<SchemaStatus> {
  // Migrator.getMigrations() reports only the build's own migrations, so read the table itself.
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const recorded = tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)
    ? (await db.selectFrom(DEFAULT_MIGRATION_TABLE).select('name').execute()).map((r) => r.name as string)
    : [];
  const known = Object.keys(migrations);
  return {
    pending: known.filter((name) => !recorded.includes(name)).sort(),
    unknown: recorded.filter((name) => !known.includes(name)).sort(),
  };
}

/**
 * The start-up guard: refuses (SchemaMismatchError) a database that is ahead
 * of this build, always, and one with pending migrations unless `autoMigrate`,
 * in which case it applies them. Returns one line per migration applied.
 */
export async function prepareSchema(
  db: Kysely<any>,
  { autoMigrate }: { autoMigrate: boolean },
): Promise<string[]> {
  const status = await schemaStatus(db);
  if (status.unknown.length > 0 || (status.pending.length > 0 && !autoMigrate)) {
    throw new SchemaMismatchError(status);
  }
  return status.pending.length > 0 ? migrateToLatest(db) : [];
}

/** Runs every pending migration; returns one line per migration applied (`applied <name>`). */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest());
}

/** Reverts the most recent migration; returns `reverted <name>`, or nothing when none is applied. */
export async function migrateDown(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateDown());
}
