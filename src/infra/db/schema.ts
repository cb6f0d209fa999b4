/**
 * Kysely table types: the SQL source of truth as the code sees it. Times are
 * epoch milliseconds in BIGINT columns, identical on MySQL and SQLite (no
 * time-zone or DATETIME-precision differences between the dialects). Ids of
 * users and sessions are UUIDv7 strings: unguessable, yet index-friendly
 * because they grow with time.
 */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  email: string;
  email_verified_at: number | null;
  password_hash: string | null;
  display_name: string;
  avatar_url: string | null;
  role: 'user' | 'admin';
  disabled_at: number | null;
  /** When the user last went offline (presence); null until first seen. */
  last_seen_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface IdentitiesTable {
  id: string;
  user_id: string;
  provider: string;
  subject: string;
  email: string | null;
  created_at: number;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  refresh_token_hash: string;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  absolute_expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

/** A token its session has rotated away from: presenting it again is reuse (or, just rotated, a concurrent refresh). */
export interface SessionTokensTable {
  token_hash: string;
  session_id: string;
  rotated_at: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  user_id: string | null;
  event: string;
  ip: string | null;
  user_agent: string | null;
  detail: string | null;
  created_at: number;
}

export interface OidcFlowsTable {
  state: string;
  provider: string;
  code_verifier: string;
  nonce: string;
  created_at: number;
}

export interface RoomsTable {
  id: string;
  /** Derived from the first name; unique and never changed by a rename. */
  slug: string;
  name: string;
  topic: string | null;
  /** Canonical BCP 47 tag (Intl.getCanonicalLocales). */
  language: string;
  owner_id: string;
  max_participants: number;
  visibility: 'public' | 'unlisted';
  status: 'active' | 'closed';
  /** Current members; changed in the same transaction as the memberships. */
  participant_count: number;
  /** Grows by one with every change of the row; orders speed-layer updates. */
  revision: number;
  created_at: number;
  closed_at: number | null;
  last_activity_at: number;
}

export type RoomRole = 'owner' | 'moderator' | 'member';
export type LeftReason = 'left' | 'kicked' | 'closed' | 'moved';

/** One stay of a user in a room; current while `left_at` is null. */
export interface RoomMembersTable {
  id: string;
  room_id: string;
  user_id: string;
  role: RoomRole;
  joined_at: number;
  left_at: number | null;
  left_reason: LeftReason | null;
}

/** A user's current room: the primary key is the user, so there is at most one. */
export interface RoomCurrentMemberTable {
  user_id: string;
  room_id: string;
  member_id: string;
}

export interface DB {
  users: UsersTable;
  identities: IdentitiesTable;
  sessions: SessionsTable;
  session_tokens: SessionTokensTable;
  audit_log: AuditLogTable;
  oidc_flows: OidcFlowsTable;
  rooms: RoomsTable;
  room_members: RoomMembersTable;
  room_current_member: RoomCurrentMemberTable;
}
