/** Room test helpers: API calls as one user, and the SQL invariants every committed state must satisfy. */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../../../src/infra/db/schema.ts';
import type { SignedUp } from '../../helpers/fixtures.ts';

export interface RoomBody {
  id: string;
  slug: string;
  name: string;
  topic: string | null;
  language: string;
  visibility: string;
  status: string;
  ownerId: string;
  participantCount: number;
  maxParticipants: number;
}

/** Sends one request as `user` (or anonymously) and returns status and parsed body. */
export async function call(
  app: FastifyInstance,
  user: SignedUp | undefined,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
) {
  const res = await app.inject({
    method,
    url,
    headers: user?.headers,
    ...(payload !== undefined && { payload: payload as object }),
  });
  const body = res.body ? (res.json() as Record<string, unknown>) : {};
  return { status: res.statusCode, body, headers: res.headers };
}

export async function createRoom(
  app: FastifyInstance,
  user: SignedUp,
  payload: object = {},
): Promise<RoomBody> {
  const res = await call(app, user, 'POST', '/v1/rooms', {
    name: 'Spanish corner',
    language: 'es',
    ...payload,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as unknown as RoomBody;
}

/**
 * The SQL invariants of rooms (G3): every active room has exactly one owner,
 * who is present with the owner role; participant_count equals its present
 * members and is within capacity; a closed room has nobody in it; every
 * present stay is the user's current room and vice versa. Returns the
 * violations (empty when consistent).
 */
export async function roomInvariantViolations(db: Kysely<DB>): Promise<string[]> {
  const problems: string[] = [];
  const rooms = await db.selectFrom('rooms').selectAll().execute();
  const present = await db.selectFrom('room_members').selectAll().where('left_at', 'is', null).execute();
  const current = await db.selectFrom('room_current_member').selectAll().execute();
  for (const room of rooms) {
    const members = present.filter((m) => m.room_id === room.id);
    if (members.length !== room.participant_count) {
      problems.push(`${room.id}: count ${room.participant_count} but ${members.length} present`);
    }
    if (room.participant_count > room.max_participants) problems.push(`${room.id}: over capacity`);
    if (room.status === 'closed') {
      if (members.length > 0) problems.push(`${room.id}: closed with members`);
      continue;
    }
    if (members.length === 0) problems.push(`${room.id}: active and empty`);
    const owners = members.filter((m) => m.role === 'owner');
    if (owners.length !== 1 || owners[0]?.user_id !== room.owner_id) {
      problems.push(
        `${room.id}: owners ${owners.map((o) => o.user_id).join(',')} vs owner_id ${room.owner_id}`,
      );
    }
  }
  const byMember = new Map(current.map((c) => [c.member_id, c]));
  for (const m of present) {
    const c = byMember.get(m.id);
    if (!c || c.room_id !== m.room_id || c.user_id !== m.user_id)
      problems.push(`stay ${m.id} is not current`);
  }
  if (current.length !== present.length)
    problems.push(`${current.length} current rows, ${present.length} stays`);
  return problems;
}
