/** SQL for OIDC sign-ins: in-progress flows and the (provider, subject) → user identities. */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { DB, OidcFlowsTable } from '../../infra/db/schema.ts';
import { uuidv7 } from '../../lib/ids.ts';

export type OidcFlow = Selectable<OidcFlowsTable>;

export class OidcRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async saveFlow(flow: OidcFlow): Promise<void> {
    await this.#db.insertInto('oidc_flows').values(flow).execute();
  }

  /**
   * Consumes a flow: returns it only to the one caller whose DELETE removed it,
   * and only if it started after `notBefore` — a state is single-use.
   */
  async takeFlow(state: string, notBefore: number): Promise<OidcFlow | undefined> {
    const flow = await this.#db
      .selectFrom('oidc_flows')
      .selectAll()
      .where('state', '=', state)
      .executeTakeFirst();
    if (!flow) return undefined;
    const { numDeletedRows } = await this.#db
      .deleteFrom('oidc_flows')
      .where('state', '=', state)
      .executeTakeFirst();
    return numDeletedRows > 0n && flow.created_at >= notBefore ? flow : undefined;
  }

  async findUserIdByIdentity(provider: string, subject: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('identities')
      .select('user_id')
      .where('provider', '=', provider)
      .where('subject', '=', subject)
      .executeTakeFirst();
    return row?.user_id;
  }

  async link(args: {
    userId: string;
    provider: string;
    subject: string;
    email: string | null;
  }): Promise<void> {
    await this.#db
      .insertInto('identities')
      .values({
        id: uuidv7(),
        user_id: args.userId,
        provider: args.provider,
        subject: args.subject,
        email: args.email,
        created_at: Date.now(),
      })
      .execute();
  }

  /** Unlinks every provider identity of a deleted account, so its subjects can sign up afresh. */
  async unlinkAll(userId: string, trx: Transaction<DB>): Promise<void> {
    await trx.deleteFrom('identities').where('user_id', '=', userId).execute();
  }
}
