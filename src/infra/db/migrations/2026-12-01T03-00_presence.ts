/**
 * users.last_seen_at: when the user last went offline (epoch ms; null = never
 * seen by the real-time gateway). Written in batches by the presence module.
 * Frozen once released: later changes go in a new migration.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('last_seen_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('last_seen_at').execute();
}
