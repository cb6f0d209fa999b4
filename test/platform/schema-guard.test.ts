/**
 * The start-up schema guard, on the real process: a database with pending
 * migrations (auto-migrate off) or with a migration this build does not know
 * (auto-migrate on or off) makes `node src/server.ts` print one line naming the
 * command and exit 1, before it listens; nothing else is printed. The check
 * needs the database, so an unreachable one is refused the same way.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadDatabaseConfig } from '../../src/config.ts';
import { createDatabase } from '../../src/infra/db/kysely.ts';
import { migrateToLatest } from '../../src/infra/db/migrate.ts';
import { migrations } from '../../src/infra/db/migrations/index.ts';
import { describeBackends, TEST_JWT_SECRET } from '../helpers/backends.ts';
import { type FreshDatabase, freshDatabase } from '../helpers/fresh-database.ts';
import { runToExit, startServer } from '../helpers/process.ts';
import { freePort } from '../helpers/wait.ts';

const BUILD = Object.keys(migrations).sort();
const FOREIGN = '2099-01-01T00-00_from-a-newer-build';

async function migrate(url: string): Promise<void> {
  const sqlDb = createDatabase(loadDatabaseConfig({ DATABASE_URL: url }).primary);
  try {
    await migrateToLatest(sqlDb.db);
  } finally {
    await sqlDb.close();
  }
}

/** Asserts the process printed exactly one line on stderr, nothing on stdout, and exited 1; returns the line. */
function refusal({ code, stdout, stderr }: { code: number | null; stdout: string; stderr: string }): string {
  assert.equal(code, 1, stdout + stderr);
  assert.equal(stdout, '', 'no log output beyond the one line');
  assert.match(stderr, /^parley: [^\n]+\n$/, `exactly one line on stderr, got:\n${stderr}`);
  return stderr.trimEnd();
}

describeBackends('schema guard at start', (b) => {
  const databases: FreshDatabase[] = [];
  const fresh = async () => {
    const db = await freshDatabase(b.backend);
    databases.push(db);
    return db;
  };
  after(() => Promise.all(databases.map((db) => db.drop())));

  // MySQL's default is auto-migrate off; SQLite's is on, so the embedded run turns it off.
  const autoMigrateOff: Record<string, string> =
    b.backend === 'embedded' ? { DATABASE_AUTO_MIGRATE: 'false' } : {};
  // Port 0: a refused start never listens.
  const server = (env: Record<string, string>) =>
    runToExit(['src/server.ts'], b.env({ LOG_LEVEL: 'info', PORT: '0', ...env }));

  it('refuses pending migrations while auto-migrate is off (exit 1, one line naming the command), then starts once they are applied', async () => {
    const db = await fresh();
    const line = refusal(await server({ DATABASE_URL: db.url, ...autoMigrateOff }));
    assert.match(line, new RegExp(`^parley: the database has ${BUILD.length} pending migrations \\(`));
    // The line names the first three pending migrations, then '…'.
    for (const name of BUILD.slice(0, 3)) assert.ok(line.includes(name), `names ${name}: ${line}`);
    assert.match(line, /run "npm run migrate"/);

    await migrate(db.url);
    const started = await startServer(b.env({ DATABASE_URL: db.url, ...autoMigrateOff }));
    try {
      const ready = await fetch(`${started.url}/health/ready`);
      assert.equal(ready.status, 200);
    } finally {
      await started.stop();
    }
  });

  it('refuses a database that records a migration this build does not know, with auto-migrate on or off', async () => {
    const db = await fresh();
    await migrate(db.url);
    await db.exec(
      `INSERT INTO kysely_migration (name, timestamp) VALUES ('${FOREIGN}', '2099-01-01T00:00:00.000Z')`,
    );
    for (const autoMigrate of ['true', 'false']) {
      const line = refusal(await server({ DATABASE_URL: db.url, DATABASE_AUTO_MIGRATE: autoMigrate }));
      assert.match(line, /^parley: the database has 1 migration this build does not know/);
      assert.ok(line.includes(FOREIGN), line);
      assert.match(line, /"npm run migrate down"/);
    }
  });
});

describe('schema guard at start, database unreachable', () => {
  it('the check needs the database: one line naming it without its password, exit 1', async () => {
    const port = await freePort(); // closed again by the time the server connects
    const line = refusal(
      await runToExit(['src/server.ts'], {
        DATABASE_URL: `mysql://parley:pw-canary-73@127.0.0.1:${port}/parley`,
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: 'info',
        PORT: '0',
      }),
    );
    assert.match(
      line,
      new RegExp(`^parley: cannot reach mysql://parley@127\\.0\\.0\\.1:${port}/parley: .*ECONNREFUSED`),
    );
    assert.equal(line.includes('pw-canary-73'), false, 'the password must not be printed');
  });
});
