/**
 * In-progress OIDC sign-ins: one row per authorization request, keyed by its
 * `state`, holding the PKCE verifier and nonce until the callback consumes it.
 * In SQL so that any instance can complete a flow another one started.
 * Frozen once released: later changes go in a new migration.
 */
import { type Kysely, MysqlAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  let table = db.schema
    .createTable('oidc_flows')
    .addColumn('state', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('provider', 'varchar(64)', (c) => c.notNull())
    .addColumn('code_verifier', 'varchar(128)', (c) => c.notNull())
    .addColumn('nonce', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull());
  if (db.getExecutor().adapter instanceof MysqlAdapter) {
    table = table.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`);
  }
  await table.execute();
  await db.schema.createIndex('oidc_flows_created_idx').on('oidc_flows').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('oidc_flows').ifExists().execute();
}
