import type { UserRow } from './users.repository.ts';

/** What a user sees of their own account (GET /v1/me, auth responses). */
export interface AccountView {
  id: string;
  email: string;
  displayName: string;
  avatarUrl: string | null;
  role: 'user' | 'admin';
  createdAt: string;
}

export function accountView(row: UserRow): AccountView {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
