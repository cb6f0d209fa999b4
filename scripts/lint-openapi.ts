/**
 * `npm run lint:openapi`: lints the OpenAPI document the app serves at
 * /docs/json with Redocly (`recommended`, redocly.yaml) and Spectral
 * (`spectral:oas`, .spectral.yaml); any error or warning of either fails (SPEC §10).
 * The app is built on the embedded backend with a throw-away SQLite file: the
 * document depends on the routes, not on the data. PUBLIC_URL, the document's
 * server, is a placeholder unless set.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/infra/db/kysely.ts';
import { migrateToLatest } from '../src/infra/db/migrate.ts';

const bin = (name: string) => join(import.meta.dirname, '..', 'node_modules', '.bin', name);

async function writeDocument(dir: string): Promise<string> {
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'parley.db')}`,
    PUBLIC_URL: process.env.PUBLIC_URL ?? 'https://parley.invalid',
    LOG_LEVEL: 'silent',
  });
  const database = createDatabase(config.db.primary);
  await migrateToLatest(database.db);
  await database.close();
  const app = await buildApp(config);
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, `${JSON.stringify(app.swagger(), null, 2)}\n`);
    return file;
  } finally {
    await app.close();
  }
}

/** Redocly fails only on errors: read its totals to fail on warnings too. */
function redocly(file: string): boolean {
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  const json = spawnSync(bin('redocly'), ['lint', file, '--format=json'], { env, encoding: 'utf8' });
  const totals = (JSON.parse(json.stdout) as { totals: { errors: number; warnings: number } }).totals;
  if (totals.errors + totals.warnings === 0) return true;
  spawnSync(bin('redocly'), ['lint', file, '--format=stylish'], { env, stdio: 'inherit' });
  return false;
}

function spectral(file: string): boolean {
  const run = spawnSync(bin('spectral'), ['lint', file, '--fail-severity=warn', '--quiet'], {
    stdio: 'inherit',
  });
  return run.status === 0;
}

const dir = mkdtempSync(join(tmpdir(), 'parley-openapi-'));
try {
  const file = await writeDocument(dir);
  const results = [redocly(file), spectral(file)];
  if (results.includes(false)) {
    console.error('OpenAPI lint failed');
    process.exitCode = 1;
  } else {
    process.stdout.write(
      'OpenAPI document: Redocly (recommended) and Spectral (spectral:oas) report nothing\n',
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
