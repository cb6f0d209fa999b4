/**
 * Loads the Lua scripts in scripts/ onto a client with `defineCommand` (EVALSHA
 * with an automatic EVAL fallback). File names are `<command>-<numberOfKeys>.lua`,
 * or `<command>-n.lua` for a script taking any number of keys (its caller passes
 * the count first); each file starts with its KEYS/ARGV/Output contract.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { RedisClient } from './client.ts';

/** The typed surface of the scripts; see each .lua file for the contract. */
export interface ScriptCommands {
  /** `keys` entry and counter keys, then the reads' count, retention, token, points and windows: see turn-n.lua. */
  turn(keys: number, ...keysThenArgs: (string | number)[]): Promise<(string | number | null)[]>;
  cacheWrite(entryKey: string, generation: string, payload: string, ttlMs: number): Promise<number>;
  cacheInvalidate(entryKey: string, newToken: string, minRetentionMs: number): Promise<number>;
  releaseLock(lockKey: string, token: string): Promise<number>;
  rankingApply(
    setKey: string,
    revisionsKey: string,
    retentionMs: number,
    ...triples: string[]
  ): Promise<number>;
  rankingRange(markKey: string, setKey: string, start: number, stop: number): Promise<string[]>;
  rankingBegin(
    markKey: string,
    setKey: string,
    revisionsKey: string,
    token: string,
    ttlMs: number,
  ): Promise<number>;
  rankingFinish(
    markKey: string,
    setKey: string,
    revisionsKey: string,
    token: string,
    readyTtlMs: number,
    retentionMs: number,
    ...triples: string[]
  ): Promise<number>;
  presenceTouch(
    connections: string,
    online: string,
    onlineIds: string,
    userId: string,
    connectionId: string,
    ttlMs: number,
  ): Promise<number>;
  presenceLeave(
    connections: string,
    online: string,
    onlineIds: string,
    userId: string,
    connectionId: string,
  ): Promise<number>;
  presenceOnline(
    online: string,
    onlineIds: string,
    cursor: string,
    limit: number,
  ): Promise<[number, string[], string | null]>;
}

export type ScriptedClient = RedisClient & ScriptCommands;

const dir = new URL('./scripts/', import.meta.url);
const scripts = readdirSync(dir)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => {
    const match = /^(\w+)-(\d+|n)\.lua$/.exec(file);
    if (!match) throw new Error(`script file ${file} must be named <command>-<numberOfKeys|n>.lua`);
    return {
      name: match[1] as string,
      numberOfKeys: match[2] === 'n' ? undefined : Number(match[2]),
      lua: readFileSync(new URL(file, dir), 'utf8'),
    };
  });

export function withScripts(client: RedisClient): ScriptedClient {
  for (const { name, numberOfKeys, lua } of scripts) client.defineCommand(name, { numberOfKeys, lua });
  return client as ScriptedClient;
}
