/**
 * Migrations run on both dialects, are applied once (a second run is a no-op),
 * revert cleanly and re-apply; the schema enforces what the code relies on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { migrateDown, migrateToLatest } from '../../src/infra/db/migrate.ts';
import { describeBackends } from '../helpers/backends.ts';
import { userRow } from '../helpers/fixtures.ts';

describeBackends('migrations', (b) => {
  it('are idempotent and reversible', async () => {
    const { db } = b.sql();
    assert.deepEqual(await migrateToLatest(db), [], 'already applied by the harness: nothing to do');
    const downs = [...(await migrateDown(db)), ...(await migrateDown(db))];
    assert.deepEqual(
      downs.map((line) => line.replace(/^Down \S+_(.*): Success$/, '$1')),
      ['oidc-flows', 'identity'],
    );
    const up = await migrateToLatest(db);
    assert.equal(up.length, 2);
    assert.ok(up.every((line) => /^Up .*: Success$/.test(line)));
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
        previous_token_hash: null,
        rotated_at: null,
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
