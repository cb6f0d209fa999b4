/**
 * `npm run migrate [up|down]`: applies or reverts migrations against DATABASE_URL.
 */
import { loadConfig } from '../../config.ts';
import { createDatabase } from './kysely.ts';
import { migrateDown, migrateToLatest } from './migrate.ts';

const direction = process.argv[2] ?? 'up';
if (direction !== 'up' && direction !== 'down') {
  console.error('usage: npm run migrate [up|down]');
  process.exit(2);
}
const config = loadConfig(process.env);
const sqlDb = createDatabase(config.db.primary);
try {
  const lines = direction === 'up' ? await migrateToLatest(sqlDb.db) : await migrateDown(sqlDb.db);
  process.stdout.write(`${lines.length > 0 ? lines.join('\n') : 'nothing to do'}\n`);
} finally {
  await sqlDb.close();
}
