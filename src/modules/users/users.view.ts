import type { UserRow } from './users.repository.ts';
import type { Account } from './users.schemas.ts';

export function accountView(row: UserRow): Account {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
