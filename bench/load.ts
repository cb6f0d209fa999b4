/**
 * The benches' HTTP load generator: closed-loop HTTP/1.1 over keep-alive
 * connections, each with one request in flight, built the way wrk is and for
 * the same reason. The generator shares this machine's two cores with the
 * servers it measures, so it must cost little per request and the same for
 * every server. autocannon, which this replaces, deep-cloned every request and
 * parsed every response header in JavaScript (http-parser-js): 41–61 µs of
 * CPU per request, as much as the servers, and more for the server that sends
 * more header bytes. Here requests are prebuilt bytes written as they are, and
 * a response is framed by its status line and Content-Length alone (native
 * `Buffer.indexOf` over the head, no header parsing): a few µs per request,
 * nearly independent of the response's header count.
 *
 * Only responses with a Content-Length are understood (Fastify and Node send
 * one for every buffered body); anything else (chunked, a closed connection)
 * counts as an error and the connection is opened again. Load goes to
 * 127.0.0.1 only: the target is a port, not a URL.
 */
import { connect, type Socket } from 'node:net';

export interface Load {
  port: number;
  connections: number;
  durationMs: number;
  /** The next request to send (a full HTTP/1.1 request, e.g. from `request()`); called once per request. */
  next: () => Buffer;
  /** The status every response should have; any other counts as a failure. */
  expect: number;
  /** Connections kept open for the next run instead of closed at the end of this one. */
  pool?: Pool;
}

/**
 * Idle keep-alive connections to one server, kept between runs: a contender measured in many
 * short windows keeps its connections from one window to the next, as wrk keeps its own for
 * a whole run, so what is measured is serving requests, not accepting connections.
 */
export class Pool {
  readonly #idle: Socket[] = [];

  /** A kept connection the server has not closed meanwhile, if any. */
  take(): Socket | undefined {
    let socket = this.#idle.pop();
    while (socket?.destroyed) socket = this.#idle.pop();
    return socket;
  }

  keep(socket: Socket): void {
    socket.removeAllListeners();
    socket.on('error', () => {});
    this.#idle.push(socket);
  }

  close(): void {
    for (const socket of this.#idle.splice(0)) socket.destroy();
  }
}

export interface LoadResult {
  /** Responses received within the window. */
  requests: number;
  rps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Responses with another status, plus connection errors. */
  failures: number;
}

/** The port and path of a loopback URL (`http://127.0.0.1:<port>/path?query`). */
export function target(url: string): { port: number; path: string } {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') throw new Error(`load goes to 127.0.0.1 only, not ${u.hostname}`);
  return { port: Number(u.port), path: u.pathname + u.search };
}

/** A request's bytes: a GET, or any method with a body; keep-alive (HTTP/1.1's default). */
export function request(
  path: string,
  {
    method = 'GET',
    headers = {},
    body,
  }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(`${head}\r\n${body ?? ''}`);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = [Buffer.from('\r\ncontent-length:'), Buffer.from('\r\nContent-Length:')];

/** Where the body of the response at the start of `buf` ends, or -1 when the head is incomplete. */
function responseEnd(buf: Buffer): number {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd === -1) return -1;
  for (const name of CONTENT_LENGTH) {
    const at = buf.indexOf(name);
    if (at !== -1 && at < headEnd) {
      let i = at + name.length;
      while (buf[i] === 0x20) i++;
      let length = 0;
      for (let c = buf[i] as number; c >= 0x30 && c <= 0x39; c = buf[++i] as number)
        length = length * 10 + c - 0x30;
      return headEnd + 4 + length;
    }
  }
  throw new Error(`response without Content-Length: ${buf.subarray(0, headEnd).toString('latin1')}`);
}

/** The three-digit status of the response at the start of `buf` ("HTTP/1.1 200 …"). */
function status(buf: Buffer): number {
  return ((buf[9] as number) - 0x30) * 100 + ((buf[10] as number) - 0x30) * 10 + ((buf[11] as number) - 0x30);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

/** Runs `load` for its duration and reports what came back within it. */
export async function run(load: Load): Promise<LoadResult> {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const started = performance.now();
  const deadline = started + load.durationMs;

  const connection = () =>
    new Promise<void>((resolve) => {
      let socket: Socket;
      let pending: Buffer | undefined;
      let sentAt = 0;
      const send = () => {
        if (!running || performance.now() >= deadline) {
          running = false;
          // Between requests: nothing in flight, so the connection can serve the next run as it is.
          if (load.pool) load.pool.keep(socket);
          else socket.end();
          return resolve();
        }
        sentAt = performance.now();
        socket.write(load.next());
      };
      const open = () => {
        pending = undefined;
        const kept = load.pool?.take();
        socket = kept ?? connect({ host: '127.0.0.1', port: load.port, noDelay: true });
        if (kept) setImmediate(send);
        else socket.on('connect', send);
        socket.on('data', (chunk: Buffer) => {
          let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
          const end = responseEnd(buf);
          if (end === -1 || buf.length < end) {
            pending = buf;
            return;
          }
          latencies.push(performance.now() - sentAt);
          if (status(buf) !== load.expect) failures++;
          buf = buf.subarray(end);
          pending = buf.length > 0 ? buf : undefined;
          send();
        });
        socket.on('error', () => {});
        socket.on('close', () => {
          if (!running) return resolve();
          failures++; // the server closed a connection mid-request: count it and reconnect
          open();
        });
      };
      open();
    });

  await Promise.all(Array.from({ length: load.connections }, connection));
  const elapsedS = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    rps: Math.round(latencies.length / elapsedS),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    failures,
  };
}
