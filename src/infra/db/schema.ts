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

export interface DB {
  users: UsersTable;
  identities: IdentitiesTable;
  sessions: SessionsTable;
  session_tokens: SessionTokensTable;
  audit_log: AuditLogTable;
  oidc_flows: OidcFlowsTable;
}
