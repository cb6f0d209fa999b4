/**
 * What every bench file needs around its scenarios: a throw-away MariaDB
 * database and Redis key prefix for this run, the environment that points a
 * server at them, forked server processes, and a clean-up that leaves nothing
 * behind (processes stopped, database dropped, keys deleted).
 * BENCH_DATABASE_URL / BENCH_REDIS_URL locate the services (defaults: local).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'mysql2/promise';
import { deleteKeys } from '../test/helpers/backends.ts';

export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Workspace {
  /** This run's key prefix (every key the servers and references write starts with it). */
  readonly prefix: string;
  /** DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, a JWT_SECRET shared by the servers, LOG_LEVEL=warn. */
  readonly env: Readonly<{
    DATABASE_URL: string;
    REDIS_URL: string;
    REDIS_KEY_PREFIX: string;
    JWT_SECRET: string;
    LOG_LEVEL: string;
  }>;
  /** Forks `script` with `env` (and PATH only); it is stopped by `close()`. */
  start(script: string, env: Record<string, string>, execArgv?: string[]): ChildProcess;
  /** Stops every process started, drops the database, deletes the keys. */
  close(): Promise<void>;
}

/** Creates the database `parley_bench_<kind>_<run id>` and the prefix `parley-bench:<run id>:`. */
export async function openWorkspace(kind: string): Promise<Workspace> {
  const runId = randomBytes(4).toString('hex');
  const dbName = `parley_bench_${kind}_${runId}`;
  const prefix = `parley-bench:${runId}:`;
  const admin = await createConnection({ uri: DATABASE_URL });
  await admin.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const children: ChildProcess[] = [];
  return {
    prefix,
    env: {
      DATABASE_URL: `${DATABASE_URL.replace(/\/$/, '')}/${dbName}`,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'warn',
    },
    start(script, env, execArgv = []) {
      const child = fork(script, [], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: 'inherit',
        execArgv,
      });
      child.on('error', () => {});
      children.push(child);
      return child;
    },
    async close() {
      await Promise.all(children.map(stop));
      await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
      await admin.end();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    },
  };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Pins every thread of `pid` to `cpus` (a taskset list, e.g. "1" or "0-2"); false where taskset is missing. */
export function pin(pid: number | undefined, cpus: string): boolean {
  if (pid === undefined) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
