/**
 * Public rooms: rooms, room_members (one row per stay: joined, left and why)
 * and room_current_member, keyed by user id, which makes "a user is in at most
 * one room" a primary-key fact rather than an application check.
 * `rooms.revision` grows with every change of the row, so the speed layer can
 * tell a newer index update from an older one arriving late.
 * Frozen once released: later changes go in a new migration.
 */
import { type CreateTableBuilder, type Kysely, MysqlAdapter, sql } from 'kysely';

function create(db: Kysely<any>, name: string): CreateTableBuilder<string> {
  const builder = db.schema.createTable(name);
  return db.getExecutor().adapter instanceof MysqlAdapter
    ? builder.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`)
    : builder;
}

export async function up(db: Kysely<any>): Promise<void> {
  await create(db, 'rooms')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('slug', 'varchar(80)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(80)', (c) => c.notNull())
    .addColumn('topic', 'varchar(280)')
    .addColumn('language', 'varchar(35)', (c) => c.notNull())
    .addColumn('owner_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('max_participants', 'integer', (c) =>
      c.notNull().defaultTo(50).check(sql`max_participants between 2 and 500`),
    )
    .addColumn('visibility', 'varchar(16)', (c) =>
      c.notNull().defaultTo('public').check(sql`visibility in ('public', 'unlisted')`),
    )
    .addColumn('status', 'varchar(16)', (c) =>
      c.notNull().defaultTo('active').check(sql`status in ('active', 'closed')`),
    )
    .addColumn('participant_count', 'integer', (c) =>
      c.notNull().defaultTo(0).check(sql`participant_count >= 0`),
    )
    .addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('closed_at', 'bigint')
    .addColumn('last_activity_at', 'bigint', (c) => c.notNull())
    .addForeignKeyConstraint('rooms_owner_fk', ['owner_id'], 'users', ['id'])
    .execute();
  // The SQL fallback of the active-room lists: by language, most participants first, then newest.
  await db.schema
    .createIndex('rooms_listing_idx')
    .on('rooms')
    .columns(['status', 'visibility', 'language', 'participant_count', 'created_at'])
    .execute();

  await create(db, 'room_members')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('room_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('role', 'varchar(16)', (c) => c.notNull().check(sql`role in ('owner', 'moderator', 'member')`))
    .addColumn('joined_at', 'bigint', (c) => c.notNull())
    .addColumn('left_at', 'bigint')
    .addColumn('left_reason', 'varchar(16)', (c) =>
      c.check(sql`left_reason is null or left_reason in ('left', 'kicked', 'closed', 'moved')`),
    )
    .addForeignKeyConstraint('room_members_room_fk', ['room_id'], 'rooms', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .addForeignKeyConstraint('room_members_user_fk', ['user_id'], 'users', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('room_members_present_idx')
    .on('room_members')
    .columns(['room_id', 'left_at', 'joined_at'])
    .execute();
  await db.schema
    .createIndex('room_members_user_idx')
    .on('room_members')
    .columns(['user_id', 'room_id', 'left_at'])
    .execute();

  await create(db, 'room_current_member')
    .addColumn('user_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('room_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('member_id', 'varchar(36)', (c) => c.notNull().unique())
    .addForeignKeyConstraint('room_current_member_user_fk', ['user_id'], 'users', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .addForeignKeyConstraint('room_current_member_member_fk', ['member_id'], 'room_members', ['id'], (c) =>
      c.onDelete('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('room_current_member_room_idx')
    .on('room_current_member')
    .column('room_id')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['room_current_member', 'room_members', 'rooms']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
