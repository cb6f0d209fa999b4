/**
 * The one shared answer to "can we use Redis right now?", as a circuit breaker
 * that every speed-layer port reads, so the whole instance agrees and stops
 * paying command timeouts once it knows Redis is gone:
 *
 * - `closed`: Redis is usable.
 * - `open`: Redis is down (connection closed, or `failureThreshold`
 *   consecutive command failures/timeouts, e.g. a paused server). Ports skip
 *   it and use their fallback. Every `probeIntervalMs` the breaker goes
 *   `half-open` and sends one PING; success closes it, failure re-opens it.
 * - `absent`: no Redis is configured (embedded mode); permanent.
 *
 * The connection's own `ready` event also closes the breaker, so recovery
 * does not wait for the next probe.
 */
import { EventEmitter } from 'node:events';
import type { RedisClient } from './client.ts';

export type CircuitState = 'absent' | 'closed' | 'open' | 'half-open';

export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RedisHealthOptions {
  failureThreshold?: number;
  probeIntervalMs?: number;
  log: HealthLog;
  /** Called after every command run through `run()`, for the latency histogram. */
  onCommand?: (seconds: number, ok: boolean) => void;
}

/** Thrown by `run()` when the breaker is not closed: the caller should use its fallback. */
export class SpeedLayerUnavailable extends Error {
  constructor(reason: string) {
    super(`redis unavailable: ${reason}`);
    this.name = 'SpeedLayerUnavailable';
  }
}

export class RedisHealth extends EventEmitter<{ change: [CircuitState, string | undefined] }> {
  readonly #client: RedisClient | undefined;
  readonly #threshold: number;
  readonly #probeIntervalMs: number;
  readonly #log: HealthLog;
  readonly #onCommand: RedisHealthOptions['onCommand'];
  #state: CircuitState;
  #reason: string | undefined;
  #failures = 0;
  #probe: NodeJS.Timeout | undefined;

  constructor(client: RedisClient | undefined, options: RedisHealthOptions) {
    super();
    this.#client = client;
    this.#threshold = options.failureThreshold ?? 3;
    this.#probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.#log = options.log;
    this.#onCommand = options.onCommand;
    if (!client) {
      this.#state = 'absent';
      this.#reason = 'redis not configured';
      return;
    }
    this.#state = 'open';
    this.#reason = 'connecting';
    client.on('ready', () => this.#close());
    client.on('close', () => this.#open('connection closed'));
    client.on('error', (err: Error) => {
      // ioredis emits an error per failed reconnect; keep the latest as the reason, log once per outage.
      if (this.#state === 'closed') this.#open(err.message);
      else this.#reason = err.message;
    });
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** Why the breaker is not closed; undefined while healthy. */
  get reason(): string | undefined {
    return this.#reason;
  }

  get available(): boolean {
    return this.#state === 'closed';
  }

  /**
   * Runs one Redis operation through the breaker: throws SpeedLayerUnavailable
   * without touching Redis when the breaker is open; otherwise runs `op`,
   * records success or failure, and rethrows a failure.
   *
   * `evenIfOpen` sends `op` while the breaker is open too, if a connection is
   * up (else ioredis refuses it at once): for invalidations, which must reach
   * a paused Redis ahead of anything sent after it resumes (docs/speed-layer.md).
   */
  async run<T>(op: (client: RedisClient) => Promise<T>, { evenIfOpen = false } = {}): Promise<T> {
    const client = this.#client;
    if (!client || (this.#state !== 'closed' && !evenIfOpen))
      throw new SpeedLayerUnavailable(this.#reason ?? this.#state);
    const started = performance.now();
    try {
      const result = await op(client);
      this.#failures = 0;
      this.#onCommand?.((performance.now() - started) / 1000, true);
      return result;
    } catch (err) {
      this.#onCommand?.((performance.now() - started) / 1000, false);
      this.recordFailure(err);
      throw err;
    }
  }

  /** Counts a failed command; opens the breaker at the threshold. Only connection-level failures count. */
  recordFailure(err: unknown): void {
    if (!isConnectionFailure(err)) return;
    this.#failures += 1;
    if (this.#state === 'closed' && this.#failures >= this.#threshold) {
      this.#open((err as Error).message);
    }
  }

  /** Stops the probe timer; the client itself is closed by its owner. */
  stop(): void {
    clearInterval(this.#probe);
    this.#probe = undefined;
  }

  #open(reason: string): void {
    this.#reason = reason;
    if (this.#state !== 'closed') return; // already open, probing or absent: nothing changes
    this.#state = 'open';
    this.#log.warn({ layer: 'redis', reason }, 'speed layer degraded: falling back');
    this.emit('change', 'open', reason);
    this.#probe ??= setInterval(() => void this.#halfOpen(), this.#probeIntervalMs).unref();
  }

  #close(): void {
    this.stop();
    this.#failures = 0;
    if (this.#state === 'closed') return;
    const wasConnecting = this.#reason === 'connecting';
    this.#state = 'closed';
    this.#reason = undefined;
    this.#log.info({ layer: 'redis' }, wasConnecting ? 'speed layer connected' : 'speed layer recovered');
    this.emit('change', 'closed', undefined);
  }

  async #halfOpen(): Promise<void> {
    const client = this.#client;
    if (!client || this.#state !== 'open' || client.status !== 'ready') return;
    this.#state = 'half-open';
    try {
      await client.ping();
      this.#close();
    } catch (err) {
      this.#state = 'open';
      this.#reason = (err as Error).message;
    }
  }
}

/** A timeout, a refused/closed connection or a disabled offline queue; not a script or type error. */
function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|max retries|LOADING|MASTERDOWN/i.test(
    err.message,
  );
}
