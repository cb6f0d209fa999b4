/**
 * The ordered list of migrations, imported statically so the same list works
 * from TypeScript sources and from the compiled build. Names are ISO-dated and
 * sort in the order they must run.
 */
import type { Migration } from 'kysely/migration';
import * as identity from './2026-11-21T00-00_identity.ts';
import * as oidcFlows from './2026-11-21T01-00_oidc-flows.ts';
import * as sessionTokens from './2026-11-22T00-00_session-tokens.ts';
import * as rooms from './2026-12-01T02-00_rooms.ts';
import * as presence from './2026-12-01T03-00_presence.ts';

export const migrations: Record<string, Migration> = {
  '2026-11-21T00-00_identity': identity,
  '2026-11-21T01-00_oidc-flows': oidcFlows,
  '2026-11-22T00-00_session-tokens': sessionTokens,
  '2026-12-01T02-00_rooms': rooms,
  '2026-12-01T03-00_presence': presence,
};
