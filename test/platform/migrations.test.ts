/**
 * Migrations run on both dialects, are applied once (a second run is a no-op),
 * revert cleanly and re-apply; the start-up guard compares the database with
 * the build's list; the schema enforces what the code relies on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../src/infra/db/kysely.ts';
import {
  migrateDown,
  migrateToLatest,
  prepareSchema,
  SchemaMismatchError,
  schemaStatus,
} from '../../src/infra/db/migrate.ts';
import { migrations } from '../../src/infra/db/migrations/index.ts';
import { describeBackends } from '../helpers/backends.ts';
import { userRow } from '../helpers/fixtures.ts';

const BUILD = Object.keys(migrations).sort();

describeBackends('migrations', (b) => {
  it('are idempotent and reversible', async () => {
    const { db } = b.sql();
    assert.deepEqual(await migrateToLatest(db), [], 'already applied by the harness: nothing to do');
    const downs: string[] = [];
    for (const _ of BUILD) downs.push(...(await migrateDown(db)));
    assert.deepEqual(
      downs,
      BUILD.toReversed().map((name) => `reverted ${name}`),
    );
    assert.deepEqual(await migrateDown(db), [], 'nothing left to revert');
    assert.deepEqual(
      await migrateToLatest(db),
      BUILD.map((name) => `applied ${name}`),
    );
  });

  it('the start-up guard: pending refused unless auto-migrate applies them; a foreign migration always refused', async () => {
    const { db } = b.sql();
    assert.deepEqual(await schemaStatus(db), { pending: [], unknown: [] });
    assert.deepEqual(await prepareSchema(db, { autoMigrate: false }), [], 'up to date: starts');
    const latest = BUILD.at(-1) as string;
    await migrateDown(db);
    assert.deepEqual(await schemaStatus(db), { pending: [latest], unknown: [] });
    await assert.rejects(prepareSchema(db, { autoMigrate: false }), (err) => {
      assert.ok(err instanceof SchemaMismatchError);
      assert.deepEqual(err.status, { pending: [latest], unknown: [] });
      assert.match(err.message, /^the database has 1 pending migration \(.*\); run "npm run migrate"/);
      return true;
    });
    assert.deepEqual(await prepareSchema(db, { autoMigrate: true }), [`applied ${latest}`]);

    const foreign = '2099-01-01T00-00_from-a-newer-build';
    // kysely_migration is the Migrator's table, not part of the app's DB type.
    const migrationTable = db as unknown as Kysely<{ kysely_migration: { name: string; timestamp: string } }>;
    await migrationTable
      .insertInto('kysely_migration')
      .values({ name: foreign, timestamp: new Date().toISOString() })
      .execute();
    try {
      for (const autoMigrate of [false, true]) {
        await assert.rejects(prepareSchema(db, { autoMigrate }), (err) => {
          assert.ok(err instanceof SchemaMismatchError);
          assert.deepEqual(err.status, { pending: [], unknown: [foreign] });
          assert.match(err.message, /this build does not know \(2099-01-01T00-00_from-a-newer-build\)/);
          return true;
        });
      }
    } finally {
      await migrationTable.deleteFrom('kysely_migration').where('name', '=', foreign).execute();
    }
  });

  it('enforce unique emails, cascading deletes and exact 4-byte unicode', async () => {
    const { db } = b.sql();
    const a = userRow({ display_name: 'Ana 👩🏽‍🚀 漢字' });
    await db.insertInto('users').values(a).execute();
    await assert.rejects(
      db
        .insertInto('users')
        .values(userRow({ email: a.email }))
        .execute(),
      (err) => isUniqueViolation(err),
      'a second account with the same email is a unique violation',
    );
    const row = await db
      .selectFrom('users')
      .select('display_name')
      .where('id', '=', a.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.display_name, 'Ana 👩🏽‍🚀 漢字');
    const now = Date.now();
    await db
      .insertInto('sessions')
      .values({
        id: randomUUID(),
        user_id: a.id,
        refresh_token_hash: 'a'.repeat(64),
        ip: '127.0.0.1',
        user_agent: 'test',
        created_at: now,
        last_used_at: now,
        expires_at: now + 1000,
        absolute_expires_at: now + 2000,
        revoked_at: null,
        revoked_reason: null,
      })
      .execute();
    await db.deleteFrom('users').where('id', '=', a.id).execute();
    const left = await db.selectFrom('sessions').select('id').where('user_id', '=', a.id).execute();
    assert.equal(left.length, 0, 'sessions cascade with their user');
  });

  it('G7: an over-long value is an error, never a silent truncation', {
    skip:
      b.backend === 'embedded' &&
      'SQLite does not enforce VARCHAR widths; the schemas bound lengths before SQL',
  }, async () => {
    const { db } = b.sql();
    await assert.rejects(
      db
        .insertInto('users')
        .values(userRow({ display_name: 'x'.repeat(65) }))
        .execute(),
      /too long/i,
    );
  });
});
