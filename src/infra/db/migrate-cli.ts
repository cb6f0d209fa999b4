/**
 * `npm run migrate [up|down]`: applies or reverts migrations against DATABASE_URL.
 * Needs only the database variables, read from the environment and `.env` as
 * the server reads them (the environment wins). Prints one line per migration applied or
 * reverted (`nothing to do` when there is none); on failure one line on stderr
 * naming it, without a stack, and exit code 1.
 */
import { existsSync } from 'node:fs';
import { ConfigError, type DatabaseConfig, loadDatabaseConfig } from '../../config.ts';
import {
  createDatabase,
  DatabaseUnreachableError,
  displayUrl,
  errorText,
  isDatabaseUnavailable,
} from './kysely.ts';
import {
  MigrationFailedError,
  migrateDown,
  migrateToLatest,
  SchemaMismatchError,
  schemaStatus,
} from './migrate.ts';

if (existsSync('.env')) process.loadEnvFile('.env');

const direction = process.argv[2] ?? 'up';
if (direction !== 'up' && direction !== 'down') {
  console.error('usage: npm run migrate [up|down]');
  process.exit(2);
}

function fail(line: string): never {
  console.error(`parley migrate: ${line}`);
  process.exit(1);
}

let target: DatabaseConfig;
try {
  target = loadDatabaseConfig(process.env).primary;
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  fail(`invalid configuration: ${err.problems.join('; ')}`);
}

const sqlDb = createDatabase(target);
let failure: string | undefined;
try {
  // Kysely refuses a database that records migrations this build lacks; say which and what to do.
  const status = await schemaStatus(sqlDb.db);
  if (status.unknown.length > 0) throw new SchemaMismatchError(status);
  const lines = direction === 'up' ? await migrateToLatest(sqlDb.db) : await migrateDown(sqlDb.db);
  process.stdout.write(`${lines.length > 0 ? lines.join('\n') : 'nothing to do'}\n`);
} catch (err) {
  if (err instanceof MigrationFailedError) {
    for (const line of err.completed) process.stdout.write(`${line}\n`);
    failure = err.message;
  } else if (err instanceof SchemaMismatchError) {
    failure = err.message;
  } else if (isDatabaseUnavailable(err)) {
    failure = new DatabaseUnreachableError(target, err).message;
  } else {
    failure = `${displayUrl(target)}: ${errorText(err)}`;
  }
} finally {
  await sqlDb.close().catch(() => {});
}
if (failure !== undefined) fail(failure);
