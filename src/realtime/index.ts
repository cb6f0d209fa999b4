/**
 * Fastify plugin `realtime`: the Socket.IO gateway on the HTTP server's port,
 * namespace `/v1`, WebSocket first (long-polling behind a load balancer needs
 * sticky sessions). It owns transport concerns only — the handshake (Origin,
 * access token, per-instance socket caps), the `{ type, data, at }` and ack
 * envelopes, validation and flood limits of client events — and carries the
 * modules' published events (src/events.ts) to sockets on every instance.
 * docs/realtime.md is the client-facing description.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type Namespace, Server, type Socket } from 'socket.io';
import type { Config } from '../config.ts';
import { AppError, Errors } from '../errors.ts';
import { BoundCounter, sampledGauge } from '../infra/metrics.ts';
import { AuthErrors } from '../modules/auth/index.ts';
import { clientAddress, type Principal, proxyTrust } from '../principal.ts';
import { clientEvents, type SocketContext } from './client-events.ts';
import { type Ack, errorAck, serverEvent } from './envelope.ts';
import { deliveryProbe } from './probe.ts';
import { RealtimeErrors } from './realtime.errors.ts';

/** E3 (RELIABILITY): a larger frame closes the connection. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Connection-state recovery window (SPEC §6). */
const RECOVERY_MS = 2 * 60_000;
/** Refused events in one limiter window after which a flooding socket is cut off (E6). */
const FLOOD_REFUSALS = 20;
const FLOOD_POLICY = 'ws_message_user';
/** setTimeout's ceiling; a longer expiry re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const userRoom = (id: string) => `user:${id}`;
const sessionRoom = (id: string) => `session:${id}`;
/** The Socket.IO room of a Parley room: its current members' sockets. */
const roomRoom = (id: string) => `room:${id}`;

/** `socket.data`: plain data only, since connection-state recovery stores it in the adapter. */
interface SocketData {
  principal: Principal;
  connectionId: string;
  ip: string;
  expiresAt: number;
}

interface SocketState extends SocketData {
  expiry: NodeJS.Timeout | undefined;
  /** Refused events since the last allowed one. */
  refused: number;
}

function refusal(code: string, message?: string): Error & { data: { code: string } } {
  const err = new AppError(code, message);
  return Object.assign(new Error(err.message), { data: { code } });
}

async function gateway(app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  const log = app.log.child({ layer: 'realtime' });
  const { realtime: limits } = config;
  const origins = new Set(config.http.corsOrigins);
  const handlers = clientEvents(app, {
    typingLimited: config.rateLimits.typing_user_room !== undefined,
  });
  const floodLimited = config.rateLimits[FLOOD_POLICY] !== undefined;
  const trust = proxyTrust(config.http.trustProxy);

  const io = new Server(app.server, {
    serveClient: false,
    transports: ['websocket', 'polling'],
    maxHttpBufferSize: MAX_FRAME_BYTES,
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: false },
    // E1: a browser's Origin must be listed; clients without one (not browsers) carry no ambient credentials.
    allowRequest: (req, callback) => {
      const { origin } = req.headers;
      const allowed = origin === undefined || origins.has(origin);
      if (!allowed) failures.series('ORIGIN_FORBIDDEN').inc();
      callback(allowed ? null : 'origin not allowed', allowed);
    },
    ...(origins.size > 0 && { cors: { origin: [...origins] } }),
    ...(app.realtimeAdapter.adapter && { adapter: app.realtimeAdapter.adapter }),
  });

  const { registry } = app.metrics;
  const failures = new BoundCounter({
    name: 'parley_ws_handshake_failures_total',
    help: 'Socket.IO handshakes refused, by code',
    labelNames: ['code'],
    registers: [registry],
  });
  const emitted = new BoundCounter({
    name: 'parley_ws_events_emitted_total',
    help: 'Server → client events emitted from this instance, by type',
    labelNames: ['type'],
    registers: [registry],
  });

  const nsp: Namespace = io.of('/v1');
  sampledGauge(
    registry,
    'parley_ws_connected_sockets',
    'Sockets connected to this instance',
    () => nsp.sockets.size,
  );
  io.of('/').use((_socket, next) => next(refusal(Errors.NOT_FOUND, 'Use the /v1 namespace')));
  // Its own namespace and hooks; the latter run before the gateway's below.
  if (config.realtime.probeIntervalMs > 0) deliveryProbe(app, io, config.realtime.probeIntervalMs);

  const perUser = new Map<string, number>();
  const perIp = new Map<string, number>();
  const bump = (counts: Map<string, number>, key: string, by: number) => {
    const n = (counts.get(key) ?? 0) + by;
    if (n > 0) counts.set(key, n);
    else counts.delete(key);
  };
  let closing = false;

  nsp.use(async (socket, next) => {
    try {
      const { auth, query } = socket.handshake;
      // HTTP's client address (TRUST_PROXY), and its refusal of a forwarded address that is not an IP.
      const ip = clientAddress(socket.request, trust);
      if (ip === undefined || isIP(ip) === 0)
        throw new AppError(Errors.BAD_REQUEST, 'X-Forwarded-For does not name a valid client address');
      // B17/E2: a token in a URL ends up in logs and histories; refuse it even beside a valid auth.token.
      if ('token' in query || 'access_token' in query)
        throw new AppError(
          AuthErrors.AUTH_UNAUTHENTICATED,
          'Send the access token in auth.token, not the URL',
        );
      const token = (auth as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token.length === 0 || token.length > 8192)
        throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED, 'auth.token must carry an access token');
      // The same session check as HTTP (cache, then SQL); a handshake spends no HTTP budget.
      const claims = app.auth.verifyAccessToken(token);
      const principal = await app.auth.principalFor(claims);
      if ((perUser.get(principal.userId) ?? 0) >= limits.maxSocketsPerUser)
        throw new AppError(RealtimeErrors.REALTIME_TOO_MANY_SOCKETS, 'Too many sockets for this user');
      if ((perIp.get(ip) ?? 0) >= limits.maxSocketsPerIp)
        throw new AppError(RealtimeErrors.REALTIME_TOO_MANY_SOCKETS, 'Too many sockets from this address');
      const data: SocketData = {
        principal,
        connectionId: randomUUID(),
        ip,
        expiresAt: claims.exp * 1000,
      };
      socket.data = data;
      next();
    } catch (err) {
      const code = err instanceof AppError ? err.code : Errors.INTERNAL;
      if (!(err instanceof AppError)) log.error({ err }, 'socket handshake failed');
      failures.series(code).inc();
      next(refusal(code, err instanceof AppError ? err.message : undefined));
    }
  });

  /** E8: at the access token's expiry the socket is cut off unless auth:refresh moved it. */
  function armExpiry(socket: Socket, state: SocketState): void {
    clearTimeout(state.expiry);
    const delay = Math.max(0, state.expiresAt - Date.now());
    state.expiry = setTimeout(
      () => {
        if (Date.now() < state.expiresAt) return armExpiry(socket, state);
        // A local emit is written at once; a regular one waits for the adapter's stream offset.
        nsp.local.to(socket.id).emit('auth:expired', serverEvent('auth:expired', null));
        socket.disconnect(true);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    state.expiry.unref();
  }

  async function dispatch(
    socket: Socket,
    state: SocketState,
    event: unknown,
    args: unknown[],
  ): Promise<void> {
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as (reply: Ack) => void) : undefined;
    let reply: Ack;
    try {
      if (Date.now() >= state.expiresAt) {
        socket.disconnect(true);
        throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED, 'The access token has expired');
      }
      if (floodLimited) {
        const d = await app.rateLimiter.consume(FLOOD_POLICY, state.principal.userId);
        if (!d.allowed) {
          state.refused += 1;
          ack?.(errorAck(new AppError('RATE_LIMITED'), Math.max(1, d.resetMs)));
          if (state.refused >= FLOOD_REFUSALS) socket.disconnect(true);
          return;
        }
        state.refused = 0;
      }
      const handler = typeof event === 'string' ? handlers.get(event) : undefined;
      if (!handler)
        throw new AppError(
          RealtimeErrors.REALTIME_EVENT_UNKNOWN,
          `No client event ${String(event).slice(0, 64)}`,
        );
      const payload = args[0] === undefined ? {} : args[0];
      if (args.length > 1 || !handler.validate(payload)) {
        const problems = (handler.validate.errors ?? []).map(
          (e) => `${e.instancePath || 'payload'} ${e.message}`,
        );
        throw new AppError(Errors.VALIDATION_FAILED, problems.join('; ') || 'one payload argument expected');
      }
      const ctx: SocketContext = {
        principal: state.principal,
        connectionId: state.connectionId,
        inRoom: (roomId) => socket.rooms.has(roomRoom(roomId)),
        extendUntil: (expiresAt) => {
          state.expiresAt = expiresAt;
          armExpiry(socket, state);
        },
      };
      reply = { ok: true, data: (await handler.run(ctx, payload as never)) ?? null };
    } catch (err) {
      if (!(err instanceof AppError))
        log.error({ err, event: String(event).slice(0, 64) }, 'client event failed');
      reply = errorAck(err);
    }
    ack?.(reply);
  }

  /**
   * A socket joins its user's current room. Read after the socket is in `user:<id>`, so a
   * join committing meanwhile reaches it either way; a recovered socket drops a room its
   * user has left while it was away.
   */
  async function joinCurrentRoom(socket: Socket, userId: string): Promise<void> {
    try {
      const current = await app.rooms.currentRoomId(userId);
      for (const room of socket.rooms) if (room.startsWith('room:') && room !== current) socket.leave(room);
      if (current !== undefined) socket.join(roomRoom(current));
    } catch (err) {
      log.warn({ err }, 'socket did not join its current room');
    }
  }

  /**
   * `session:welcome`, once the socket is in all its rooms. Sent through the adapter (a room
   * emit, not `socket.emit`) so that it carries a stream offset: connection-state recovery
   * resumes from the last offset a client received, and without this a socket that heard
   * nothing yet (its user already online, a quiet room) could not recover at all.
   */
  function welcome(socket: Socket, state: SocketState): void {
    if (!socket.connected) return;
    const data = { userId: state.principal.userId, expiresAt: new Date(state.expiresAt).toISOString() };
    nsp.to(socket.id).emit('session:welcome', serverEvent('session:welcome', data));
    emitted.series('session:welcome').inc();
  }

  nsp.on('connection', (socket) => {
    const state: SocketState = { ...(socket.data as SocketData), expiry: undefined, refused: 0 };
    const { principal } = state;
    socket.join([userRoom(principal.userId), sessionRoom(principal.sessionId)]);
    void joinCurrentRoom(socket, principal.userId).then(() => welcome(socket, state));
    bump(perUser, principal.userId, 1);
    bump(perIp, state.ip, 1);
    armExpiry(socket, state);
    app.presence
      .touch(principal.userId, state.connectionId)
      .catch((err) => log.warn({ err }, 'presence: connect not recorded'));
    socket.onAny((event: unknown, ...args: unknown[]) => void dispatch(socket, state, event, args));
    socket.on('disconnect', () => {
      clearTimeout(state.expiry);
      bump(perUser, principal.userId, -1);
      bump(perIp, state.ip, -1);
      // On shutdown the connection is left to expire: its user reconnects elsewhere within the TTL, unseen.
      if (closing) return;
      app.presence
        .disconnected(principal.userId, state.connectionId)
        .catch((err) => log.warn({ err }, 'presence: disconnect not recorded'));
    });
  });

  const unsubscribe = [
    // E7: the adapter carries the disconnect to every instance.
    app.events.on('auth.sessions_revoked', ({ sessionIds }) => {
      nsp.in(sessionIds.map(sessionRoom)).disconnectSockets(true);
    }),
    app.events.on('room.sockets', ({ roomId, action, users }) => {
      const room = roomRoom(roomId);
      const sockets = nsp.in(users === 'all' ? room : users.map(userRoom));
      if (action === 'join') sockets.socketsJoin(room);
      else sockets.socketsLeave(room);
    }),
    app.events.on('client.deliver', ({ type, data, to }) => {
      const rooms = [...(to.users ?? []).map(userRoom), ...(to.rooms ?? []).map(roomRoom)];
      if (rooms.length === 0) return;
      nsp
        .to(rooms)
        .except((to.exceptUsers ?? []).map(userRoom))
        .emit(type, serverEvent(type, data));
      emitted.series(type).inc();
    }),
  ];

  // Before the HTTP server closes: close every socket's transport (clients see a transport close and
  // reconnect, elsewhere), leaving presence untouched.
  app.addHook('preClose', async () => {
    closing = true;
    for (const off of unsubscribe) off();
    nsp.local.emit('server:shutdown', serverEvent('server:shutdown', { reason: 'server shutting down' }));
    io.engine.close();
  });
  app.addHook('onClose', async () => {
    // Before the adapter's Redis connections close (src/infra/realtime/plugin.ts).
    await Promise.allSettled([nsp, io.of('/')].map((n) => n.adapter.close()));
  });
}

export default fp(gateway, {
  name: 'realtime',
  dependencies: ['auth', 'rooms', 'presence', 'rate-limit', 'metrics', 'redis', 'realtimeAdapter'],
});
