/**
 * Authentication rules: registration, login (generic failures, timing parity,
 * failure-only rate limits), refresh rotation with reuse detection and a grace
 * window, revocation that every instance honours on its next request, the
 * session list, and ending an account (admin disable, owner deletion). SQL is written first; the cache is invalidated after commit.
 */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../../config.ts';
import { AppError, Errors } from '../../errors.ts';
import type { Events } from '../../events.ts';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';
import { type AfterCommit, unitOfWork } from '../../infra/db/unit-of-work.ts';
import { assertAllowed, type RateLimiter } from '../../infra/rate-limit/limiter.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { ClientContext, Principal } from '../../principal.ts';
import {
  type Account,
  accountView,
  normalizeEmail,
  type UserRow,
  type UsersService,
} from '../users/index.ts';
import { AuthErrors } from './auth.errors.ts';
import type {
  AuditEvent,
  AuditRepository,
  SessionRow,
  SessionState,
  SessionsRepository,
} from './auth.repository.ts';
import type { OidcRepository } from './oidc.repository.ts';
import { type Passwords, passwordProblem } from './passwords.ts';
import type { AccessClaims, AccessTokens, RefreshTokens } from './tokens.ts';

const SESSION_STATE = 'session-state';

export interface AuthResult {
  user: Account;
  accessToken: string;
  refreshToken: string;
  /** Access-token lifetime, seconds. */
  expiresIn: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function cursorOf(sessionId: string): string {
  return Buffer.from(sessionId).toString('base64url');
}

/** The session id a cursor names, or undefined when it is not a cursor cursorOf made. */
function sessionIdOfCursor(cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString();
  return UUID.test(id) && cursorOf(id) === cursor ? id : undefined;
}

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

export interface AuthServiceDeps {
  db: Kysely<DB>;
  users: UsersService;
  sessions: SessionsRepository;
  audit: AuditRepository;
  /** Provider identities, unlinked when their account is deleted. */
  identities: OidcRepository;
  passwords: Passwords;
  access: AccessTokens;
  refresh: RefreshTokens;
  cache: Cache;
  /** Where revocations are announced after commit (the gateway disconnects the sessions' sockets). */
  events: Events;
  limiter: RateLimiter;
  policies: Config['rateLimits'];
  settings: Config['auth'];
}

/** The one email policy (users module); a bad address is a 400 naming the field. */
function emailOf(input: string): string {
  const email = normalizeEmail(input);
  if (email === undefined) {
    throw new AppError(Errors.VALIDATION_FAILED, 'body.email must be an email address', {
      fields: [{ field: 'body.email', message: 'must be an email address' }],
    });
  }
  return email;
}

/** Identifies an email in rate-limit keys and logs without storing the address itself. */
function emailKey(email: string): string {
  return createHash('sha256').update(email).digest('hex').slice(0, 32);
}

export class AuthService {
  readonly #d: AuthServiceDeps;

  constructor(deps: AuthServiceDeps) {
    this.#d = deps;
  }

  /** Creates the account, its first session and the audit row in one transaction: all or nothing. */
  async register(
    input: { email: string; password: string; displayName: string },
    client: ClientContext,
  ): Promise<AuthResult> {
    const problem = passwordProblem(input.password);
    if (problem) throw new AppError(AuthErrors.AUTH_WEAK_PASSWORD, `The password ${problem}`);
    const email = emailOf(input.email);
    const passwordHash = await this.#d.passwords.hash(input.password);
    return unitOfWork(this.#d.db, async (trx) => {
      const user = await this.#d.users.create(
        { email, displayName: input.displayName, passwordHash, emailVerified: false },
        trx,
      );
      if (!user) throw new AppError(AuthErrors.AUTH_EMAIL_TAKEN);
      await this.#audit({ user_id: user.id, event: 'register' }, client, trx);
      return this.#startSession(user, client, trx);
    });
  }

  /**
   * Every failure is the same 401, whether the email is unknown, the password
   * wrong or the account disabled, and costs one argon2 verify either way.
   *
   * Only verified-wrong passwords count (SPEC §7). Each attempt takes a point
   * from every login counter *before* verifying, so concurrent guesses cannot
   * overshoot a limit, and gives them all back when it succeeds — or when any
   * counter refuses it: a refused attempt was never evaluated, so it counts
   * nowhere. An email+IP pair therefore adds at most `login_email_ip` failures
   * per window to the account's counter, and one source cannot lock the owner
   * out (RELIABILITY A11).
   */
  async login(input: { email: string; password: string }, client: ClientContext): Promise<AuthResult> {
    const email = emailOf(input.email);
    const key = emailKey(email);
    const counted = this.#loginCounters(key, client.ip);
    const giveBack = () =>
      Promise.all(counted.map(([policy, subject]) => this.#d.limiter.refund(policy, subject)));
    const decisions = await Promise.all(
      counted.map(([policy, subject]) => this.#d.limiter.consume(policy, subject)),
    );
    const refused = decisions.find((d) => !d.allowed);
    if (refused) {
      await giveBack();
      await this.#audit(
        { user_id: null, event: 'login_blocked', detail: JSON.stringify({ email: key }) },
        client,
      );
      assertAllowed(refused);
    }

    const user = await this.#d.users.findByEmail(email);
    const ok = await this.#d.passwords.verify(user?.password_hash, input.password);
    if (!ok || !user || user.disabled_at !== null) {
      await this.#audit(
        { user_id: user?.id ?? null, event: 'login_failure', detail: JSON.stringify({ email: key }) },
        client,
      );
      throw new AppError(AuthErrors.AUTH_INVALID_CREDENTIALS);
    }
    await giveBack();
    if (this.#d.passwords.needsRehash(user.password_hash as string)) {
      await this.#d.users.setPasswordHash(user.id, await this.#d.passwords.hash(input.password));
    }
    await this.#audit({ user_id: user.id, event: 'login_success' }, client);
    return this.#startSession(user, client);
  }

  /** Opens a session for a user authenticated elsewhere (an OIDC provider). */
  async signIn(user: UserRow, client: ClientContext, via: string): Promise<AuthResult> {
    if (user.disabled_at !== null) throw new AppError(AuthErrors.AUTH_INVALID_CREDENTIALS);
    await this.#audit({ user_id: user.id, event: 'login_success', detail: JSON.stringify({ via }) }, client);
    return this.#startSession(user, client);
  }

  /**
   * Rotates a refresh token. Presenting the token that was just rotated returns
   * the same successor within the grace window (two tabs refreshing at once);
   * presenting it later, or any earlier token of the family, is reuse: the
   * session is revoked and every token of it dies (RFC 9700 §4.14.2).
   */
  async refresh(token: string, client: ClientContext): Promise<AuthResult> {
    const { refresh, sessions } = this.#d;
    const digest = refresh.digest(token);
    const successor = refresh.successor(token);
    const now = Date.now();

    const current = await sessions.findByRefreshDigest(digest);
    if (current) {
      const user = await this.#liveSessionUser(current, now);
      const rotated = await sessions.rotate({
        id: current.id,
        from: digest,
        to: refresh.digest(successor),
        now,
        expiresAt: Math.min(now + this.#d.settings.refreshTokenTtlMs, current.absolute_expires_at),
      });
      if (rotated) return this.#result(user, current.id, successor);
    }

    // Not (or no longer) the current token: a concurrent refresh, or reuse.
    const earlier = await sessions.findByEarlierDigest(digest);
    if (!earlier || earlier.revoked_at !== null) throw new AppError(AuthErrors.AUTH_REFRESH_INVALID);
    const grace = this.#d.settings.refreshReuseGraceMs;
    // Only the token just rotated has the session's current token as its successor.
    const justRotated = earlier.refresh_token_hash === refresh.digest(successor);
    if (grace > 0 && justRotated && now - earlier.rotated_at <= grace) {
      const user = await this.#liveSessionUser(earlier, now);
      return this.#result(user, earlier.id, successor);
    }
    await this.#revokeSessions([earlier.id], 'refresh_reuse', now);
    await this.#audit(
      { user_id: earlier.user_id, event: 'refresh_reuse', detail: JSON.stringify({ session: earlier.id }) },
      client,
    );
    throw new AppError(AuthErrors.AUTH_REFRESH_INVALID);
  }

  /**
   * Checks an access token's signature and claims (synchronous, no I/O); 401
   * when it is not a token this server issued and still valid.
   */
  verifyAccessToken(bearer: string): AccessClaims {
    try {
      return this.#d.access.verify(bearer);
    } catch {
      throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED);
    }
  }

  /**
   * The principal of verified claims, if their session is still live: its
   * state comes from the cache, then SQL, never from L1 (a revocation on any
   * instance is seen by the next request here). 401 otherwise.
   */
  principalFor(claims: AccessClaims): Promise<Principal> {
    return this.#d.cache
      .getOrSet<SessionState | null>(
        SESSION_STATE,
        claims.sid,
        async () => (await this.#d.sessions.findState(claims.sid)) ?? null,
        { ttl: this.#d.settings.accessTokenTtlMs, l1: false },
      )
      .then((state) => {
        if (!state?.active || state.userId !== claims.sub) {
          throw new AppError(AuthErrors.AUTH_UNAUTHENTICATED);
        }
        return { userId: state.userId, sessionId: claims.sid, role: state.role };
      });
  }

  /** Both checks at once, for transports that spend no HTTP budget (the socket handshake). */
  authenticate(bearer: string): Promise<Principal> {
    return this.principalFor(this.verifyAccessToken(bearer));
  }

  async logout(principal: Principal, client: ClientContext): Promise<void> {
    await this.#revokeSessions([principal.sessionId], 'logout', Date.now());
    await this.#audit({ user_id: principal.userId, event: 'logout' }, client);
  }

  async logoutAll(principal: Principal, client: ClientContext): Promise<void> {
    await this.#revokeAllForUser(principal.userId, undefined, 'logout_all');
    await this.#audit({ user_id: principal.userId, event: 'logout_all' }, client);
  }

  /**
   * One page of the caller's live sessions, newest first. The cursor names the
   * last session of the previous page; one that is not among the caller's own
   * sessions (edited, or another account's) is CURSOR_INVALID.
   */
  async listSessions(
    principal: Principal,
    page: { cursor: string | undefined; limit: number },
  ): Promise<{ items: SessionView[]; nextCursor: string | null }> {
    const { sessions } = this.#d;
    let after: SessionRow | undefined;
    if (page.cursor !== undefined) {
      const id = sessionIdOfCursor(page.cursor);
      after = id === undefined ? undefined : await sessions.findForUser(id, principal.userId);
      if (!after) throw new AppError(Errors.CURSOR_INVALID);
    }
    const rows = await sessions.listLive(principal.userId, Date.now(), page.limit + 1, after);
    const items = rows.slice(0, page.limit).map((r) => ({
      id: r.id,
      createdAt: new Date(r.created_at).toISOString(),
      lastUsedAt: new Date(r.last_used_at).toISOString(),
      expiresAt: new Date(Math.min(r.expires_at, r.absolute_expires_at)).toISOString(),
      ip: r.ip,
      userAgent: r.user_agent,
      current: r.id === principal.sessionId,
    }));
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? cursorOf(last.id) : null };
  }

  async revokeSession(principal: Principal, sessionId: string, client: ClientContext): Promise<void> {
    const session = await this.#d.sessions.findForUser(sessionId, principal.userId);
    if (!session || session.revoked_at !== null) throw new AppError(AuthErrors.AUTH_SESSION_NOT_FOUND);
    await this.#revokeSessions([sessionId], 'revoked_by_user', Date.now());
    await this.#audit(
      { user_id: principal.userId, event: 'session_revoked', detail: JSON.stringify({ session: sessionId }) },
      client,
    );
  }

  /** Changes the password and ends every other session; the current one continues. */
  async changePassword(
    principal: Principal,
    input: { currentPassword: string; newPassword: string },
    client: ClientContext,
  ): Promise<void> {
    const user = await this.#d.users.findById(principal.userId);
    if (!user || !(await this.#d.passwords.verify(user.password_hash, input.currentPassword))) {
      await this.#audit({ user_id: principal.userId, event: 'password_change_failure' }, client);
      throw new AppError(AuthErrors.AUTH_INVALID_CREDENTIALS);
    }
    const problem = passwordProblem(input.newPassword);
    if (problem) throw new AppError(AuthErrors.AUTH_WEAK_PASSWORD, `The password ${problem}`);
    const hash = await this.#d.passwords.hash(input.newPassword);
    await this.#revokeAllForUser(principal.userId, principal.sessionId, 'password_changed', async (trx) =>
      this.#d.users.setPasswordHash(principal.userId, hash, trx),
    );
    await this.#audit({ user_id: principal.userId, event: 'password_changed' }, client);
  }

  /**
   * An admin disables an account: the account and every session of it end in
   * one transaction, and every instance refuses its tokens on their next request.
   */
  async disableUser(principal: Principal, userId: string, client: ClientContext): Promise<void> {
    if (principal.role !== 'admin' && !this.#d.settings.adminUserIds.includes(principal.userId)) {
      throw new AppError(AuthErrors.AUTH_FORBIDDEN);
    }
    await this.#revokeAllForUser(userId, undefined, 'account_disabled', (trx, afterCommit) =>
      this.#d.users.disable(userId, trx, afterCommit),
    );
    await this.#audit(
      { user_id: userId, event: 'account_disabled', detail: JSON.stringify({ by: principal.userId }) },
      client,
    );
  }

  /** The owner deletes their account, confirming with the password; every session ends with it. */
  async deleteAccount(principal: Principal, password: string, client: ClientContext): Promise<void> {
    const user = await this.#d.users.findById(principal.userId);
    if (!user || !(await this.#d.passwords.verify(user.password_hash, password))) {
      await this.#audit({ user_id: principal.userId, event: 'account_delete_failure' }, client);
      throw new AppError(AuthErrors.AUTH_INVALID_CREDENTIALS);
    }
    await this.#revokeAllForUser(principal.userId, undefined, 'account_deleted', async (trx, afterCommit) => {
      await this.#d.users.delete(principal.userId, trx, afterCommit);
      await this.#d.identities.unlinkAll(principal.userId, trx);
    });
    await this.#audit({ user_id: principal.userId, event: 'account_deleted' }, client);
  }

  #loginCounters(key: string, ip: string): [keyof Config['rateLimits'], string][] {
    const all: [keyof Config['rateLimits'], string][] = [
      ['login_email_ip', `${key}:${ip}`],
      ['login_ip', ip],
      ['login_account', key],
    ];
    return all.filter(([policy]) => this.#d.policies[policy]);
  }

  /** The session's user, if the session can still be refreshed; otherwise 401. */
  async #liveSessionUser(session: SessionRow, now: number): Promise<UserRow> {
    const live = session.revoked_at === null && session.expires_at > now && session.absolute_expires_at > now;
    const user = live ? await this.#d.users.findById(session.user_id) : undefined;
    if (!user || user.disabled_at !== null) throw new AppError(AuthErrors.AUTH_REFRESH_INVALID);
    return user;
  }

  async #startSession(user: UserRow, client: ClientContext, trx?: Transaction<DB>): Promise<AuthResult> {
    const now = Date.now();
    const sessionId = uuidv7();
    const refreshToken = this.#d.refresh.create();
    await this.#d.sessions.create(
      {
        id: sessionId,
        user_id: user.id,
        refresh_token_hash: this.#d.refresh.digest(refreshToken),
        ip: client.ip,
        user_agent: client.userAgent?.slice(0, 512) ?? null,
        created_at: now,
        last_used_at: now,
        expires_at: now + this.#d.settings.refreshTokenTtlMs,
        absolute_expires_at: now + this.#d.settings.sessionMaxAgeMs,
        revoked_at: null,
        revoked_reason: null,
      },
      trx,
    );
    return this.#result(user, sessionId, refreshToken);
  }

  #result(user: UserRow, sessionId: string, refreshToken: string): AuthResult {
    return {
      user: accountView(user),
      accessToken: this.#d.access.issue(user.id, sessionId),
      refreshToken,
      expiresIn: Math.floor(this.#d.settings.accessTokenTtlMs / 1000),
    };
  }

  async #revokeSessions(ids: string[], reason: string, now: number): Promise<void> {
    await unitOfWork(this.#d.db, async (trx, afterCommit) => {
      for (const id of ids) await this.#d.sessions.revoke({ id, reason, now }, trx);
      afterCommit(() => this.#ended(ids, reason));
    });
  }

  async #revokeAllForUser(
    userId: string,
    exceptSessionId: string | undefined,
    reason: string,
    alsoInTransaction?: (trx: Transaction<DB>, afterCommit: AfterCommit) => Promise<void>,
  ): Promise<void> {
    await unitOfWork(this.#d.db, async (trx, afterCommit) => {
      await alsoInTransaction?.(trx, afterCommit);
      const ids = await this.#d.sessions.revokeAllForUser(
        { userId, exceptSessionId, reason, now: Date.now() },
        trx,
      );
      afterCommit(() => this.#ended(ids, reason));
    });
  }

  /**
   * After the commit: invalidate the sessions' cached state first (so a socket
   * reconnecting at once is refused), then announce the revocation whatever the
   * invalidation's outcome — the open sockets must close either way (E7).
   */
  async #ended(ids: string[], reason: string): Promise<void> {
    try {
      await this.#d.cache.invalidate(SESSION_STATE, ids);
    } finally {
      if (ids.length > 0) this.#d.events.publish('auth.sessions_revoked', { sessionIds: ids, reason });
    }
  }

  async #audit(event: AuditEvent, client: ClientContext, trx?: Transaction<DB>): Promise<void> {
    await this.#d.audit.record(
      { ...event, ip: client.ip, user_agent: client.userAgent?.slice(0, 512) ?? null },
      trx,
    );
  }
}
