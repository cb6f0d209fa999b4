/**
 * Fastify plugin `db`: opens the database, checks its schema against this build (applying pending migrations
 * when configured to, refusing to start otherwise), and closes the pools on
 * shutdown. Decorates `app.sql`.
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config.ts';
import { BoundCounter, BoundHistogram } from '../metrics.ts';
import {
  createDatabase,
  DatabaseUnreachableError,
  isDatabaseUnavailable,
  type QueryObserver,
  type SqlDatabase,
} from './kysely.ts';
import { prepareSchema } from './migrate.ts';

/**
 * The SQL source of truth. One pool: there is no read replica yet, because
 * every read today either fills a cache — and a refill from a lagging replica
 * right after a commit would cache the old value, breaking "no stale refill
 * after a write" (SPEC §11.4) — or must see the latest commit (auth state).
 * Uncached history pages will be the first reads routed to one.
 */
export interface SqlHandles {
  readonly primary: SqlDatabase;
}

declare module 'fastify' {
  interface FastifyInstance {
    sql: SqlHandles;
  }
}

export default fp<{ config: Config['db'] }>(
  async (app, { config }) => {
    const registers = [app.metrics.registry];
    const queries = new BoundCounter({
      name: 'parley_sql_queries_total',
      help: 'SQL statements executed, by verb and outcome',
      labelNames: ['verb', 'outcome'],
      registers,
    });
    const duration = new BoundHistogram({
      name: 'parley_sql_query_duration_seconds',
      help: 'SQL statement duration by verb',
      labelNames: ['verb'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    const observe: QueryObserver = (verb, ms, failed) => {
      queries.series(verb, failed ? 'error' : 'ok').inc();
      duration.series(verb).observe(ms / 1000);
    };
    const primary = createDatabase(config.primary, observe);
    let closed: Promise<void> | undefined;
    const close = () => (closed ??= primary.close());
    app.addHook('onClose', close);
    // Serving against a schema this build was not written for fails request by request
    // (500s behind a green readiness check); refuse at start instead (SchemaMismatchError).
    // That check needs the database, so an unreachable one refuses the start too.
    try {
      const applied = await prepareSchema(primary.db, { autoMigrate: config.autoMigrate });
      for (const line of applied) app.log.info({ layer: 'sql' }, line);
    } catch (err) {
      await close();
      throw isDatabaseUnavailable(err) ? new DatabaseUnreachableError(config.primary, err) : err;
    }
    app.decorate('sql', { primary });
  },
  { name: 'db', dependencies: ['metrics'] },
);
