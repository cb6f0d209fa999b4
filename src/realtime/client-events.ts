/**
 * The client → server events and their payload schemas. Each handler calls a
 * module service through its index.ts; the gateway (index.ts) does the rest:
 * rate limit, validation, ack envelope. Rooms, conversations and typing add
 * their handlers here.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { type Static, type TSchema, Type } from 'typebox';
import { AppError } from '../errors.ts';
import { AuthErrors } from '../modules/auth/index.ts';
import { RoomErrors } from '../modules/rooms/index.ts';
import type { Principal } from '../principal.ts';

/** What a handler knows of its socket: no Socket.IO type crosses this line. */
export interface SocketContext {
  readonly principal: Principal;
  readonly connectionId: string;
  /**
   * Whether the socket is in the room's audience: moved in after a join commits,
   * out after a leave, kick or close commits, on every instance (the adapter).
   */
  inRoom(roomId: string): boolean;
  /** Moves the socket's expiry to the new access token's (auth:refresh). */
  extendUntil(expiresAt: number): void;
}

export interface ClientEvent {
  readonly validate: ValidateFunction;
  run(ctx: SocketContext, payload: never): Promise<unknown>;
}

const TYPING_POLICY = 'typing_user_room';
const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, removeAdditional: false });
const strict = { additionalProperties: false };

function event<S extends TSchema>(
  schema: S,
  run: (ctx: SocketContext, payload: Static<S>) => Promise<unknown>,
): ClientEvent {
  return { validate: ajv.compile(schema), run: run as ClientEvent['run'] };
}

/** The handlers by event name; a Map, so no name (`__proto__`, `constructor`…) reaches a prototype. */
export function clientEvents(
  app: FastifyInstance,
  { typingLimited }: { typingLimited: boolean },
): ReadonlyMap<string, ClientEvent> {
  return new Map([
    [
      'heartbeat',
      event(Type.Object({}, strict), async (ctx) => {
        await app.presence.touch(ctx.principal.userId, ctx.connectionId);
        return null;
      }),
    ],
    [
      'typing',
      event(Type.Object({ roomId: Type.String({ pattern: UUID }) }, strict), async (ctx, p) => {
        const { userId } = ctx.principal;
        // E5: only a socket in the room's audience reaches its members. The audience follows
        // membership commits, so this costs no SQL read per keystroke (a typing indicator is
        // ephemeral; what is stored, such as messages, checks membership in SQL).
        if (!ctx.inRoom(p.roomId)) throw new AppError(RoomErrors.ROOM_NOT_MEMBER, 'You are not in this room');
        // Over the limit the indicator is dropped, not refused: the next keystroke will carry it.
        if (typingLimited && !(await app.rateLimiter.consume(TYPING_POLICY, `${userId}:${p.roomId}`)).allowed)
          return { delivered: false };
        app.events.publish('client.deliver', {
          type: 'typing',
          data: { roomId: p.roomId, userId },
          to: { rooms: [p.roomId], exceptUsers: [userId] },
        });
        return { delivered: true };
      }),
    ],
    [
      'auth:refresh',
      event(
        Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, strict),
        async (ctx, p) => {
          const claims = app.auth.verifyAccessToken(p.token);
          // A socket stays with its session: a token of another session (or user) is refused.
          if (claims.sid !== ctx.principal.sessionId || claims.sub !== ctx.principal.userId)
            throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED, 'The token belongs to another session');
          await app.auth.principalFor(claims);
          ctx.extendUntil(claims.exp * 1000);
          return { expiresAt: new Date(claims.exp * 1000).toISOString() };
        },
      ),
    ],
  ]);
}
