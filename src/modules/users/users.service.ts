/**
 * User rules: the one owner of the users table. Creates accounts (for every
 * sign-up path), decides who may see what of a user — public profiles expose
 * only the display name, avatar and join date; a disabled account looks like
 * no account — and serves profiles through the cache, invalidated after the
 * change commits. Disabling and deleting an account are decided here too; the
 * auth module calls them inside the transaction that ends the account's sessions.
 */
import type { Kysely, Transaction } from 'kysely';
import { AppError, Errors } from '../../errors.ts';
import { type Cache, Ttl } from '../../infra/cache/cache.ts';
import { isUniqueViolation } from '../../infra/db/kysely.ts';
import type { DB } from '../../infra/db/schema.ts';
import { type AfterCommit, unitOfWork } from '../../infra/db/unit-of-work.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { checkText } from '../../lib/text.ts';
import { UserErrors } from './users.errors.ts';
import type { ProfilePatch, UserRow, UsersRepository } from './users.repository.ts';
import type { Account, PublicProfile } from './users.schemas.ts';
import { accountView } from './users.view.ts';

const PROFILES = 'user-profile';
const ACCOUNTS = 'user-account';
const LAST_SEEN = 'user-last-seen';
const PROFILE_CACHE = { ttl: Ttl.medium, grace: Ttl.long };
/** The owner's own view: fresh within the TTL, never served stale on a loader failure. */
const ACCOUNT_CACHE = { ttl: Ttl.medium };

export const DISPLAY_NAME_MAX_CODE_POINTS = 64;
const AVATAR_URL_MAX = 2048;

function invalid(field: string, problem: string): AppError {
  return new AppError(Errors.VALIDATION_FAILED, `${field} ${problem}`, {
    fields: [{ field, message: problem }],
  });
}

/** The display name as stored (text policy), or a 400 VALIDATION_FAILED naming `body.displayName`. */
function displayNameOf(value: string): string {
  const checked = checkText(value, DISPLAY_NAME_MAX_CODE_POINTS);
  if (!checked.ok) throw invalid('body.displayName', checked.problem);
  return checked.text;
}

/** `candidate` as a display name if it passes the text policy, else `fallback` (e.g. a provider's name claim). */
export function displayNameOr(candidate: unknown, fallback: string): string {
  const checked =
    typeof candidate === 'string' ? checkText(candidate, DISPLAY_NAME_MAX_CODE_POINTS) : undefined;
  return checked?.ok ? checked.text : fallback;
}

/**
 * An avatar is a link the clients load, never the server (no SSRF): https only,
 * no user-info (credentials would be shown to every viewer), parsed by the WHATWG
 * URL parser and stored in its serialisation, so what clients get is what was checked.
 */
function avatarUrlOf(value: string): string {
  // The URL parser silently drops tabs, newlines and surrounding controls: refuse them instead.
  if (/[\p{Cc}\s]/u.test(value))
    throw invalid('body.avatarUrl', 'contains whitespace or a control character');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('body.avatarUrl', 'is not a URL');
  }
  if (url.protocol !== 'https:') throw invalid('body.avatarUrl', 'must be an https URL');
  if (url.username !== '' || url.password !== '')
    throw invalid('body.avatarUrl', 'must not contain user-info');
  if (url.href.length > AVATAR_URL_MAX)
    throw invalid('body.avatarUrl', `must not be longer than ${AVATAR_URL_MAX} characters`);
  return url.href;
}

/** A new account; `email` must already be normalised (emails.ts). */
export interface NewUser {
  email: string;
  displayName: string;
  passwordHash: string | null;
  emailVerified: boolean;
}

export interface UsersServiceDeps {
  db: Kysely<DB>;
  users: UsersRepository;
  cache: Cache;
}

export class UsersService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersRepository;
  readonly #cache: Cache;

  constructor(deps: UsersServiceDeps) {
    this.#db = deps.db;
    this.#users = deps.users;
    this.#cache = deps.cache;
  }

  /**
   * Inserts an account; undefined when the email is taken (also by a concurrent sign-up).
   * A display name breaking the text policy is a 400 VALIDATION_FAILED.
   */
  async create(input: NewUser, trx?: Transaction<DB>): Promise<UserRow | undefined> {
    const displayName = displayNameOf(input.displayName);
    const now = Date.now();
    const row: UserRow = {
      id: uuidv7(),
      email: input.email,
      email_verified_at: input.emailVerified ? now : null,
      password_hash: input.passwordHash,
      display_name: displayName,
      avatar_url: null,
      role: 'user',
      disabled_at: null,
      last_seen_at: null,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.#users.create(row, trx);
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
    return row;
  }

  /** The full row (password hash included) for a normalised email, disabled accounts too. */
  findByEmail(email: string): Promise<UserRow | undefined> {
    return this.#users.findByEmail(email);
  }

  /** The full row by id, disabled accounts too. */
  findById(id: string): Promise<UserRow | undefined> {
    return this.#users.findById(id);
  }

  setPasswordHash(id: string, passwordHash: string, trx?: Transaction<DB>): Promise<void> {
    return this.#users.updatePasswordHash(id, passwordHash, trx);
  }

  async getPublicProfile(id: string): Promise<PublicProfile> {
    const profile = await this.#cache.getOrSet(PROFILES, id, () => this.#loadProfile(id), PROFILE_CACHE);
    if (!profile) throw new AppError(UserErrors.USER_NOT_FOUND);
    return profile;
  }

  /** The account's own view (with email and role), for GET /v1/me. */
  getAccount(id: string): Promise<Account> {
    return this.#cache
      .getOrSet(
        ACCOUNTS,
        id,
        async () => {
          const row = await this.#users.findById(id);
          return row && row.disabled_at === null ? accountView(row) : null;
        },
        ACCOUNT_CACHE,
      )
      .then((account) => {
        if (!account) throw new AppError(UserErrors.USER_NOT_FOUND);
        return account;
      });
  }

  /** Changes display name and/or avatar; every instance serves the new profile once this returns. */
  async updateProfile(id: string, input: ProfilePatch): Promise<void> {
    const patch: ProfilePatch = {
      ...(input.display_name !== undefined && { display_name: displayNameOf(input.display_name) }),
      ...(typeof input.avatar_url === 'string' && { avatar_url: avatarUrlOf(input.avatar_url) }),
      ...(input.avatar_url === null && { avatar_url: null }),
    };
    const updated = await unitOfWork(this.#db, async (trx, afterCommit) => {
      const found = await this.#users.updateProfile(id, patch, trx);
      afterCommit(() => this.#forget(id));
      return found;
    });
    if (!updated) throw new AppError(UserErrors.USER_NOT_FOUND);
  }

  /**
   * Disables an account inside the caller's transaction (the auth module ends its
   * sessions in the same one); 404 when no user has this id, a no-op when it is
   * already disabled. Its profile disappears once the transaction commits.
   */
  async disable(id: string, trx: Transaction<DB>, afterCommit: AfterCommit): Promise<void> {
    if (!(await this.#users.disable(id, Date.now(), trx))) throw new AppError(UserErrors.USER_NOT_FOUND);
    afterCommit(() => this.#forget(id));
  }

  /**
   * Deletes an account as its owner asked: the row stays, disabled and stripped
   * of everything personal (email, name, avatar, password hash), so that rows
   * pointing at the user (audit log, and later messages, rooms, conversations)
   * keep a valid, anonymous author instead of cascading away or dangling. The
   * email is free for a new account at once.
   */
  async delete(id: string, trx: Transaction<DB>, afterCommit: AfterCommit): Promise<void> {
    await this.#users.anonymise(id, Date.now(), trx);
    afterCommit(() => this.#forget(id));
  }

  /**
   * Records when users went offline (presence), in one transaction; a later time never goes
   * backwards. `lastSeenOf` serves the new times once this returns.
   */
  async recordLastSeen(seen: ReadonlyMap<string, number>): Promise<void> {
    if (seen.size === 0) return;
    await unitOfWork(this.#db, async (trx, afterCommit) => {
      await this.#users.recordLastSeen(seen, trx);
      afterCommit(() => this.#cache.invalidate(LAST_SEEN, [...seen.keys()]));
    });
  }

  /** When each of these users last went offline, for those ever seen; from SQL, one query. */
  lastSeen(ids: readonly string[]): Promise<Map<string, number>> {
    return this.#users.lastSeen(ids);
  }

  /**
   * When one user last went offline (null: never seen, or no such user), through the cache
   * like their profile: a profile read stays SQL-free when warm, and is served while SQL is down.
   */
  lastSeenOf(id: string): Promise<number | null> {
    return this.#cache.getOrSet(
      LAST_SEEN,
      id,
      async () => (await this.#users.lastSeen([id])).get(id) ?? null,
      PROFILE_CACHE,
    );
  }

  async #forget(id: string): Promise<void> {
    await this.#cache.invalidate(PROFILES, [id]);
    await this.#cache.invalidate(ACCOUNTS, [id]);
  }

  /** A missing user is cached too (as null), so probing random ids does not reach SQL each time. */
  async #loadProfile(id: string): Promise<PublicProfile | null> {
    const row = await this.#users.findPublicById(id);
    return row
      ? {
          id: row.id,
          displayName: row.display_name,
          avatarUrl: row.avatar_url,
          createdAt: new Date(row.created_at).toISOString(),
        }
      : null;
  }
}
