/**
 * The delivery probe behind `parley_ws_delivery_seconds` and `parley_ws_probe_failures_total`
 * (docs/realtime.md, Operations). Each instance keeps one socket of its own, connected over
 * loopback to its own port in the private namespace `/_probe`. Every interval it emits one
 * acknowledged event through the adapter to every instance's probe socket and observes the time
 * until all of them acknowledged: the cross-instance delivery round trip. Completing needs an
 * answer from every instance (each says how many probe sockets it reached), so a paused instance
 * or a stalled Redis (RELIABILITY J6) shows up as a failure after PROBE_TIMEOUT_MS, never as a
 * hang.
 *
 * A namespace of its own because the probe is no user: no session, no presence, no share of the
 * per-user or per-address caps, no room, and /v1's handshake stays untouched. It shares /v1's
 * adapter connections (publisher, subscriber, stream reader), Redis and every instance's event
 * loop. Socket.IO sends acknowledged broadcasts over the adapter's pub/sub channels, not its
 * stream, so the stream reader's wait is not in the figure (that connection's state is in
 * /health/ready).
 *
 * The probe's client is socket.io-client, the same library Parley's clients use: the round trip
 * is what one of them would see from this host.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Histogram } from 'prom-client';
import type { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { BoundCounter } from '../infra/metrics.ts';

const NAMESPACE = '/_probe';
/**
 * How long a round may take before it counts as failed: RELIABILITY J6's bound on a cluster
 * request, and socket.io-adapter's own timeout for fetchSockets and serverSideEmit.
 */
export const PROBE_TIMEOUT_MS = 5000;

type FailureReason = 'timeout' | 'unconnected';

/** The probe's own client: connects with the instance's key and acknowledges every probe. */
class ProbeSocket {
  readonly #socket: Socket;

  constructor(url: string, key: string, path: string) {
    this.#socket = connect(url, {
      path,
      auth: { token: key },
      transports: ['websocket'],
      autoConnect: false,
      reconnectionDelayMax: 2000,
    });
    this.#socket.on('probe', (ack: () => void) => ack());
  }

  /** Resolves true once the socket is in the namespace (connecting it first); false after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<boolean> {
    const socket = this.#socket;
    if (socket.connected) return true;
    if (!socket.active) socket.connect();
    let timer: NodeJS.Timeout | undefined;
    let onConnect: (() => void) | undefined;
    try {
      return await new Promise<boolean>((resolve) => {
        onConnect = () => resolve(true);
        socket.once('connect', onConnect);
        timer = setTimeout(resolve, timeoutMs, false);
      });
    } finally {
      clearTimeout(timer);
      if (onConnect) socket.off('connect', onConnect);
    }
  }

  /** A namespace disconnect, unlike a dropped transport, leaves no recovery session in the adapter. */
  close(): void {
    this.#socket.disconnect();
  }
}

/** The instance's own address as a client reaches it: a wildcard listener answers on loopback. */
function loopbackUrl({ address, family, port }: AddressInfo): string {
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return `http://${family === 'IPv6' ? `[${host}]` : host}:${port}${NAMESPACE}`;
}

/**
 * Sets up the probe namespace on `io` and, once the app listens, probes every `intervalMs`
 * (a round waits for the previous one, so rounds never overlap). Registers its own preClose
 * hook: call before the gateway registers the hook that closes Socket.IO's transports.
 */
export function deliveryProbe(app: FastifyInstance, io: Server, intervalMs: number): void {
  const log = app.log.child({ layer: 'realtime' });
  // Per process, never written anywhere: it only proves a connection came from this instance.
  const key = randomBytes(32).toString('base64url');
  const expected = Buffer.from(key);
  const nsp = io.of(NAMESPACE);
  // Without the key, the namespace answers as one that does not exist.
  nsp.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const given = typeof token === 'string' ? Buffer.from(token) : undefined;
    const ok = given?.length === expected.length && timingSafeEqual(given, expected);
    next(ok ? undefined : new Error('Invalid namespace'));
  });

  const registers = [app.metrics.registry];
  const delivery = new Histogram({
    name: 'parley_ws_delivery_seconds',
    help: 'Delivery probe: emit through the adapter until every instance’s probe socket acknowledged',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const failures = new BoundCounter({
    name: 'parley_ws_probe_failures_total',
    help: 'Delivery probe rounds that failed: timeout (not every instance answered in 5 s) or unconnected (the probe socket could not connect in 5 s)',
    labelNames: ['reason'],
    registers,
  });

  let own: ProbeSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let stopped = false;
  let failing = false;

  function fail(reason: FailureReason): void {
    failures.series(reason).inc();
    if (!failing) log.warn({ reason }, 'delivery probe failed: delivery across instances may be degraded');
    failing = true;
  }

  /** One round, connecting included, ends within PROBE_TIMEOUT_MS. */
  async function probe(socket: ProbeSocket): Promise<void> {
    const began = performance.now();
    if (!(await socket.ready(PROBE_TIMEOUT_MS))) return fail('unconnected');
    const started = performance.now();
    try {
      await nsp.timeout(Math.max(1, PROBE_TIMEOUT_MS - (started - began))).emitWithAck('probe');
      delivery.observe((performance.now() - started) / 1000);
      if (failing) log.info('delivery probe answered again');
      failing = false;
    } catch {
      fail('timeout');
    }
  }

  function schedule(socket: ProbeSocket): void {
    timer = setTimeout(() => {
      round = probe(socket).then(() => {
        round = undefined;
        if (!stopped) schedule(socket);
      });
    }, intervalMs);
    timer.unref();
  }

  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (address === null || typeof address === 'string') return;
    // It connects at the first round, which waits for that.
    own = new ProbeSocket(loopbackUrl(address), key, io.path());
    schedule(own);
  });
  app.addHook('preClose', async () => {
    stopped = true;
    clearTimeout(timer);
    // A round takes a few ms normally, at most PROBE_TIMEOUT_MS; its timers must not outlive the app.
    await round;
    own?.close();
    await nsp.adapter.close();
  });
}
