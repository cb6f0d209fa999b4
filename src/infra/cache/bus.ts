/**
 * CacheBus: tells every instance to drop L1 copies of keys another instance
 * invalidated. Redis pub/sub is at-most-once: a message published while an
 * instance's subscriber is disconnected is lost, so on every (re)subscription
 * the cache is told to drop its whole L1 (`onGap`), and L1 entries live at most
 * a few seconds anyway.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/client.ts';

export interface CacheBus {
  /** Announces invalidated keys to the other instances (best effort). */
  publish(keys: readonly string[]): Promise<void>;
  /** `onKeys` for every message from another instance; `onGap` whenever messages may have been missed. */
  subscribe(onKeys: (keys: string[]) => void, onGap: () => void): Promise<void>;
  close(): Promise<void>;
}

export class RedisCacheBus implements CacheBus {
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  readonly #instance = randomUUID();

  constructor(publisher: RedisClient, subscriber: RedisClient, channel: string) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#channel = channel;
  }

  async publish(keys: readonly string[]): Promise<void> {
    await this.#publisher.publish(this.#channel, JSON.stringify({ from: this.#instance, keys }));
  }

  async subscribe(onKeys: (keys: string[]) => void, onGap: () => void): Promise<void> {
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const { from, keys } = JSON.parse(message) as { from: string; keys: string[] };
      if (from !== this.#instance) onKeys(keys);
    });
    // After every (re)connection, (re)subscribe and only then report the gap: a message
    // published before the subscription is confirmed is lost, so the gap must cover it.
    const subscribed = () =>
      this.#subscriber.subscribe(this.#channel).then(
        () => onGap(),
        () => {},
      );
    this.#subscriber.on('ready', () => void subscribed());
    // Not awaited: with Redis down at start-up the subscription waits in the offline
    // queue and completes once Redis is reachable.
    void subscribed();
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
  }
}
