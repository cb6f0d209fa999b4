/**
 * Kysely's SqliteDialect over Node's built-in `node:sqlite` (no native addon to
 * build). The adapter maps Kysely's better-sqlite3-shaped interface onto
 * `DatabaseSync`: parameters arrive as one array, and `reader` tells whether
 * the statement returns rows.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { SqliteDatabase } from 'kysely';

export function openSqlite(path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  // WAL lets readers proceed during a write; busy_timeout turns lock contention into a wait, not an error.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
  db.exec('PRAGMA busy_timeout = 5000;');
  return {
    close: () => db.close(),
    prepare(sql) {
      const stmt = db.prepare(sql);
      const args = (params: ReadonlyArray<unknown>) => params as SQLInputValue[];
      return {
        reader: stmt.columns().length > 0,
        all: (params) => stmt.all(...args(params)),
        run: (params) => {
          const { changes, lastInsertRowid } = stmt.run(...args(params));
          return { changes, lastInsertRowid };
        },
        iterate: (params) => stmt.iterate(...args(params)),
      };
    },
  };
}
