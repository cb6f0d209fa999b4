/**
 * Process entry: read `.env` from the working directory if there is one
 * (variables already in the environment win), load config (exit 1 with one line per bad variable), build
 * the app (exit 1 with one line when the database cannot be reached or its
 * schema does not match this build), listen, and shut down gracefully on
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the
 * Redis and SQL pools, exit 0.
 */
import { existsSync } from 'node:fs';
import { buildApp } from './app.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { DatabaseUnreachableError } from './infra/db/kysely.ts';
import { SchemaMismatchError } from './infra/db/migrate.ts';

const SHUTDOWN_GRACE_MS = 10_000;

if (existsSync('.env')) process.loadEnvFile('.env');

let config: Readonly<Config>;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  for (const problem of err.problems) console.error(`parley: invalid configuration: ${problem}`);
  process.exit(1);
}

let app: Awaited<ReturnType<typeof buildApp>>;
try {
  app = await buildApp(config);
} catch (err) {
  // Start-up refusals an operator fixes are one line each, like a bad variable; anything else is a bug.
  if (!(err instanceof SchemaMismatchError || err instanceof DatabaseUnreachableError)) throw err;
  console.error(`parley: ${err.message}`);
  process.exit(1);
}

let closing = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (closing) return;
  closing = true;
  app.log.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    app.log.error('graceful shutdown timed out');
    process.exit(1);
  }, SHUTDOWN_GRACE_MS).unref();
  try {
    await app.close();
    clearTimeout(force);
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'error during shutdown');
    process.exit(1);
  }
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

try {
  await app.listen({ host: config.http.host, port: config.http.port });
} catch (err) {
  app.log.fatal({ err }, 'could not start');
  await app.close();
  process.exit(1);
}
