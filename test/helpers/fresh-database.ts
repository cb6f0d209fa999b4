/**
 * An empty database of the backend's dialect, for tests that need one the
 * harness has not migrated: a MariaDB/MySQL database `parley_t_…` (dropped by
 * `drop()`) or a SQLite file in a temp directory (removed by `drop()`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { type Backend, TEST_DATABASE_URL } from './backends.ts';

export interface FreshDatabase {
  /** DATABASE_URL for it. */
  readonly url: string;
  /** Runs one statement on it (fixtures such as a conflicting table or a foreign migration row). */
  exec(statement: string): Promise<void>;
  drop(): Promise<void>;
}

export async function freshDatabase(backend: Backend): Promise<FreshDatabase> {
  if (backend === 'embedded') {
    const dir = mkdtempSync(join(tmpdir(), 'parley-test-'));
    const path = join(dir, 'parley.db');
    return {
      url: `sqlite:${path}`,
      async exec(statement) {
        const { DatabaseSync } = await import('node:sqlite');
        const db = new DatabaseSync(path);
        try {
          db.exec(statement);
        } finally {
          db.close();
        }
      },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `parley_t_${randomBytes(4).toString('hex')}_${process.pid}`;
  const admin = await createConnection({ uri: TEST_DATABASE_URL });
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  const url = `${TEST_DATABASE_URL.replace(/\/$/, '')}/${name}`;
  return {
    url,
    async exec(statement) {
      const conn = await createConnection({ uri: url });
      try {
        await conn.query(statement);
      } finally {
        await conn.end();
      }
    },
    async drop() {
      const conn = await createConnection({ uri: TEST_DATABASE_URL });
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await conn.end();
      }
    },
  };
}
