/**
 * Accounts and sessions: users, identities (OIDC provider + subject → user),
 * sessions (one row per login, refresh-token digests) and the audit log.
 * Frozen once released: later changes go in a new migration.
 */
import { type CreateTableBuilder, type Kysely, MysqlAdapter, sql } from 'kysely';

// MySQL needs the charset spelled out (utf8mb4 with a binary collation, so 4-byte
// characters round-trip and comparisons match SQLite's byte-wise ones).
function create(db: Kysely<any>, name: string): CreateTableBuilder<string> {
  const builder = db.schema.createTable(name);
  return db.getExecutor().adapter instanceof MysqlAdapter
    ? builder.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`)
    : builder;
}

// Table-level: MySQL parses but ignores an inline column REFERENCES clause.
const cascadeToUsers = ['user_id'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;

  await create(db, 'users')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('email', 'varchar(254)', (c) => c.notNull().unique())
    .addColumn('email_verified_at', 'bigint')
    .addColumn('password_hash', 'varchar(255)')
    .addColumn('display_name', 'varchar(64)', (c) => c.notNull())
    .addColumn('avatar_url', 'varchar(2048)')
    .addColumn('role', 'varchar(16)', (c) => c.notNull().defaultTo('user'))
    .addColumn('disabled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await create(db, 'identities')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('provider', 'varchar(64)', (c) => c.notNull())
    .addColumn('subject', 'varchar(255)', (c) => c.notNull())
    .addColumn('email', 'varchar(254)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('identities_provider_subject_uq', ['provider', 'subject'])
    .addForeignKeyConstraint('identities_user_fk', [...cascadeToUsers], 'users', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .execute();
  await db.schema.createIndex('identities_user_idx').on('identities').column('user_id').execute();

  await create(db, 'sessions')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('refresh_token_hash', 'char(64)', (c) => c.notNull().unique())
    .addColumn('previous_token_hash', 'char(64)')
    .addColumn('rotated_at', 'bigint')
    .addColumn('ip', 'varchar(45)')
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('absolute_expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_reason', 'varchar(32)')
    .addForeignKeyConstraint('sessions_user_fk', [...cascadeToUsers], 'users', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .execute();
  await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
  await db.schema
    .createIndex('sessions_previous_hash_idx')
    .on('sessions')
    .column('previous_token_hash')
    .execute();
  await db.schema.createIndex('sessions_expires_idx').on('sessions').column('expires_at').execute();

  await create(db, 'audit_log')
    // SQLite only auto-increments an INTEGER PRIMARY KEY; MySQL wants BIGINT for headroom.
    .addColumn('id', mysql ? 'bigint' : 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'varchar(36)')
    .addColumn('event', 'varchar(64)', (c) => c.notNull())
    .addColumn('ip', 'varchar(45)')
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('detail', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('audit_log_user_time_idx')
    .on('audit_log')
    .columns(['user_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['audit_log', 'sessions', 'identities', 'users']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
