/**
 * Refresh-token families (RFC 9700 §4.14.2): every token a session has rotated
 * away from, so presenting any of them — not only the last — is recognised as
 * reuse. Replaces sessions.previous_token_hash / rotated_at (one token back);
 * the previous tokens already recorded there are carried over.
 * Frozen once released: later changes go in a new migration.
 */
import { type Kysely, MysqlAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  let table = db.schema
    .createTable('session_tokens')
    .addColumn('token_hash', 'char(64)', (c) => c.primaryKey())
    .addColumn('session_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('rotated_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint('session_tokens_session_fk', ['session_id'], 'sessions', ['id'], (c) =>
      c.onDelete('cascade'),
    );
  if (mysql) table = table.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`);
  await table.execute();
  await db.schema
    .createIndex('session_tokens_session_idx')
    .on('session_tokens')
    .column('session_id')
    .execute();

  await sql`insert into session_tokens (token_hash, session_id, rotated_at)
    select previous_token_hash, id, coalesce(rotated_at, last_used_at) from sessions
    where previous_token_hash is not null`.execute(db);

  // MySQL names the table of an index to drop; SQLite's syntax has no place for it.
  const dropIndex = db.schema.dropIndex('sessions_previous_hash_idx');
  await (mysql ? dropIndex.on('sessions') : dropIndex).execute();
  await db.schema.alterTable('sessions').dropColumn('previous_token_hash').execute();
  await db.schema.alterTable('sessions').dropColumn('rotated_at').execute();
}

/** Back to one token of history: the latest rotation of each session is kept, older ones are lost. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('previous_token_hash', 'char(64)').execute();
  await db.schema.alterTable('sessions').addColumn('rotated_at', 'bigint').execute();
  await sql`update sessions set
    previous_token_hash = (select t.token_hash from session_tokens t where t.session_id = sessions.id
      order by t.rotated_at desc limit 1),
    rotated_at = (select max(t.rotated_at) from session_tokens t where t.session_id = sessions.id)`.execute(
    db,
  );
  await db.schema
    .createIndex('sessions_previous_hash_idx')
    .on('sessions')
    .column('previous_token_hash')
    .execute();
  await db.schema.dropTable('session_tokens').execute();
}
