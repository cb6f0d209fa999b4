/** The real socket.io-client against a listening app, for the real-time tests. */
import { io, type Socket } from 'socket.io-client';

export interface ConnectOptions {
  token?: string;
  origin?: string;
  /** Extra handshake headers (e.g. X-Forwarded-For). */
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** Let the client reconnect by itself (off by default: a test decides). */
  reconnection?: boolean;
  /** Default /v1. */
  namespace?: string;
}

const open: Socket[] = [];

/** A client socket (namespace /v1 unless told) over WebSocket only; closed by `closeSockets()`. */
export function client(port: number, o: ConnectOptions = {}): Socket {
  const socket = io(`http://127.0.0.1:${port}${o.namespace ?? '/v1'}`, {
    transports: ['websocket'],
    auth: o.token === undefined ? {} : { token: o.token },
    extraHeaders: { ...o.headers, ...(o.origin !== undefined && { origin: o.origin }) },
    ...(o.query && { query: o.query }),
    reconnection: o.reconnection ?? false,
    forceNew: true,
    timeout: 5000,
  });
  open.push(socket);
  return socket;
}

/** Resolves on `connect`, rejects with the `connect_error`. */
export function connected(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** The `connect_error` of a socket that must be refused (rejects if it connects). */
export function refused(socket: Socket): Promise<Error & { data?: { code?: string } }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, expected a refusal')));
    socket.once('connect_error', resolve);
  });
}

/** Resolves with the disconnect reason. */
export function disconnected(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    if (!socket.connected && !socket.active) return resolve('already');
    socket.once('disconnect', (reason) => resolve(reason));
  });
}

export function nextEvent<T = unknown>(socket: Socket, name: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(name, (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

export interface AckReply {
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string; retryAfterMs?: number };
}

export function request(socket: Socket, event: string, ...args: unknown[]): Promise<AckReply> {
  return socket.timeout(5000).emitWithAck(event, ...args) as Promise<AckReply>;
}

export function closeSockets(): void {
  for (const s of open.splice(0)) s.disconnect();
}
