/**
 * `npm run migrate` as a real process (`node src/infra/db/migrate-cli.ts`): it
 * needs only DATABASE_URL, prints one line per migration applied or reverted
 * (`nothing to do` otherwise), and on failure prints one line on stderr naming
 * it (unreachable database, bad URL, the failing migration) with no stack and
 * no password, and exits non-zero.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { migrations } from '../../src/infra/db/migrations/index.ts';
import { describeBackends } from '../helpers/backends.ts';
import { type FreshDatabase, freshDatabase } from '../helpers/fresh-database.ts';
import { type Finished, runToExit } from '../helpers/process.ts';
import { freePort } from '../helpers/wait.ts';

const CLI = 'src/infra/db/migrate-cli.ts';
const BUILD = Object.keys(migrations).sort();
const LATEST = BUILD.at(-1) as string;

/** Only DATABASE_URL: no JWT_SECRET, no Redis, nothing else the server needs. */
const migrate = (url: string, ...args: string[]) => runToExit([CLI, ...args], { DATABASE_URL: url });

/** Exit non-zero, nothing on stdout, one line on stderr, no stack frame; returns the line. */
function failure({ code, stdout, stderr }: Finished): string {
  assert.notEqual(code, 0, stdout + stderr);
  assert.equal(stdout, '');
  assert.match(stderr, /^parley migrate: [^\n]+\n$/, `exactly one line on stderr, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack frames');
  return stderr.trimEnd();
}

describeBackends('migrate CLI', (b) => {
  const databases: FreshDatabase[] = [];
  const fresh = async () => {
    const db = await freshDatabase(b.backend);
    databases.push(db);
    return db;
  };
  after(() => Promise.all(databases.map((db) => db.drop())));

  it('applies every migration with only DATABASE_URL set, one line each; then nothing to do; down reverts the latest', async () => {
    const { url } = await fresh();
    const up = await migrate(url);
    assert.deepEqual(up, { code: 0, stdout: BUILD.map((name) => `applied ${name}\n`).join(''), stderr: '' });
    assert.deepEqual(await migrate(url), { code: 0, stdout: 'nothing to do\n', stderr: '' });
    assert.deepEqual(await migrate(url, 'down'), { code: 0, stdout: `reverted ${LATEST}\n`, stderr: '' });
    assert.deepEqual(await migrate(url), { code: 0, stdout: `applied ${LATEST}\n`, stderr: '' });
  });

  it('names the migration that failed and why', async () => {
    const db = await fresh();
    // The first migration creates `users`; a table already in its way makes it fail.
    await db.exec('CREATE TABLE users (id INTEGER)');
    const run = await migrate(db.url);
    assert.notEqual(run.code, 0);
    assert.equal(run.stdout, '', 'nothing was applied');
    assert.match(run.stderr, /^parley migrate: [^\n]+\n$/, run.stderr);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
    assert.match(run.stderr, new RegExp(`applying ${BUILD[0]} failed: .*users.*already exists`, 'i'));
  });

  it('refuses a database that records a migration this build does not know, in either direction', async () => {
    const db = await fresh();
    assert.equal((await migrate(db.url)).code, 0);
    const foreign = '2099-01-01T00-00_from-a-newer-build';
    await db.exec(
      `INSERT INTO kysely_migration (name, timestamp) VALUES ('${foreign}', '2099-01-01T00:00:00.000Z')`,
    );
    for (const direction of ['up', 'down']) {
      const line = failure(await migrate(db.url, direction));
      assert.match(line, /this build does not know/);
      assert.ok(line.includes(foreign), line);
    }
  });
});

describe('migrate CLI failures before any SQL', () => {
  it('an unreachable database: one line naming it without its password, no stack, non-zero exit', async () => {
    const port = await freePort(); // closed again by the time the CLI connects
    const line = failure(await migrate(`mysql://parley:pw-canary-71@127.0.0.1:${port}/parley`));
    assert.equal(line.includes('pw-canary-71'), false, 'the password must not be printed');
    assert.match(
      line,
      new RegExp(`^parley migrate: cannot reach mysql://parley@127\\.0\\.0\\.1:${port}/parley: `),
    );
    assert.match(line, /ECONNREFUSED/);
  });

  it('a bad DATABASE_URL: one configuration line without its value, non-zero exit', async () => {
    const line = failure(await migrate('ftp://parley:pw-canary-72@db.example/parley'));
    assert.equal(
      line,
      'parley migrate: invalid configuration: DATABASE_URL: expected a mysql:// or sqlite: URL',
    );
  });

  it('an unknown direction: the usage line, exit 2', async () => {
    const run = await runToExit([CLI, 'sideways'], { DATABASE_URL: 'sqlite::memory:' });
    assert.deepEqual(run, { code: 2, stdout: '', stderr: 'usage: npm run migrate [up|down]\n' });
  });
});
