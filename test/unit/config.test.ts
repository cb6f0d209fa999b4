import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseDuration, RATE_LIMIT_DEFAULTS } from '../../src/config.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

describe('config', () => {
  it('defaults to the embedded backend with the documented values', () => {
    const config = loadConfig({});
    assert.deepEqual(config.db.primary, {
      dialect: 'sqlite',
      path: './data/parley.db',
      url: 'sqlite:./data/parley.db',
    });
    assert.equal(config.db.autoMigrate, true);
    assert.equal(config.redis.mode, 'none');
    assert.equal(config.redis.keyPrefix, 'parley:');
    assert.equal(config.http.port, 3000);
    assert.equal(config.auth.accessTokenTtlMs, 15 * 60_000);
    assert.equal(config.auth.refreshTokenTtlMs, 7 * 86_400_000);
    assert.equal(config.redis.commandTimeoutMs, 300);
  });

  it('is deeply frozen', () => {
    const config = loadConfig({ CORS_ORIGINS: 'https://a.example' });
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(config.http) && Object.isFrozen(config.http.corsOrigins),
    );
  });

  it('parses MySQL, Redis variants and durations', () => {
    const config = loadConfig({
      DATABASE_URL: 'mysql://u:p@db:3306/parley',
      JWT_SECRET: 's'.repeat(32),
      REDIS_URL: 'rediss://cache:6380',
      ACCESS_TOKEN_TTL: '5m',
      TRUST_PROXY: '1',
    });
    assert.equal(config.db.primary.dialect, 'mysql');
    assert.equal(config.db.autoMigrate, false);
    assert.deepEqual(
      { ...config.redis },
      { mode: 'standalone', url: 'rediss://cache:6380', keyPrefix: 'parley:', commandTimeoutMs: 300 },
    );
    assert.equal(config.auth.accessTokenTtlMs, 300_000);
    assert.equal(config.http.trustProxy, 1);
    const sentinel = loadConfig({ REDIS_SENTINELS: 'a:26379,b:26380', REDIS_SENTINEL_NAME: 'mymaster' });
    assert.equal(sentinel.redis.mode, 'sentinel');
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: 'a:7000,b:7001' });
    assert.equal(cluster.redis.mode, 'cluster');
    assert.equal(parseDuration('300ms'), 300);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('15'), undefined);
  });

  it('names every bad variable at once, without echoing secrets', () => {
    const found = problems({
      PORT: 'abc',
      DATABASE_URL: 'ftp://user:hunter2@x',
      REDIS_URL: 'http://x',
      ACCESS_TOKEN_TTL: 'soon',
      LOG_LEVEL: 'loud',
      JWT_SECRET: 'short',
      CORS_ORIGINS: 'https://ok.example,not an origin',
    });
    const names = found.map((p) => p.split(':')[0]);
    assert.deepEqual(names.sort(), [
      'ACCESS_TOKEN_TTL',
      'CORS_ORIGINS',
      'DATABASE_URL',
      'JWT_SECRET',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
    ]);
    assert.ok(!found.join('\n').includes('hunter2'), 'a database password must not be echoed');
  });

  it('reads ADMIN_USER_IDS as a list of user ids', () => {
    const id = '0190a5b2-7c3e-7a41-9d2e-3f1a2b3c4d5e';
    assert.deepEqual(loadConfig({ ADMIN_USER_IDS: ` ${id.toUpperCase()} ,` }).auth.adminUserIds, [id]);
    assert.deepEqual(loadConfig({}).auth.adminUserIds, []);
    assert.match(
      problems({ ADMIN_USER_IDS: `${id},admin` })[0] ?? '',
      /^ADMIN_USER_IDS: "admin" is not a user id/,
    );
  });

  it('rejects conflicting Redis targets and a sentinel without a name', () => {
    assert.match(problems({ REDIS_URL: 'redis://x', REDIS_CLUSTER_NODES: 'a:1' })[0] ?? '', /only one/);
    assert.match(problems({ REDIS_SENTINELS: 'a:26379' })[0] ?? '', /REDIS_SENTINEL_NAME/);
  });

  it('refuses to run in production or on MySQL without a signing key', () => {
    assert.match(problems({ NODE_ENV: 'production' })[0] ?? '', /^JWT_SECRET:/);
    assert.match(problems({ DATABASE_URL: 'mysql://root@db/parley' })[0] ?? '', /^JWT_SECRET:.*MySQL/);
    assert.deepEqual(problems({}), [], 'embedded mode generates its own');
    assert.deepEqual(problems({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }), []);
  });

  it('reads rate-limit policies: defaults, overrides, off, and bad values by name', () => {
    const config = loadConfig({ RATE_LIMIT_REGISTER_IP: '10/30s:closed', RATE_LIMIT_API_IP: 'off' });
    assert.deepEqual(
      { ...config.rateLimits.register_ip },
      { points: 10, durationMs: 30_000, whenRedisDown: 'closed' },
    );
    assert.equal(config.rateLimits.api_ip, undefined);
    assert.deepEqual({ ...config.rateLimits.login_email_ip }, RATE_LIMIT_DEFAULTS.login_email_ip);
    assert.deepEqual(
      problems({ RATE_LIMIT_LOGIN_IP: '5 per minute' }).map((p) => p.split(':')[0]),
      ['RATE_LIMIT_LOGIN_IP'],
    );
    assert.match(problems({ RATE_LIMIT_LOGIN_IP: '5/1m:sometimes' })[0] ?? '', /RATE_LIMIT_LOGIN_IP/);
  });

  it('accepts .env.example as written, and it lists every rate-limit policy', () => {
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const env = Object.fromEntries(
      text
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    const config = loadConfig(env);
    for (const name of Object.keys(RATE_LIMIT_DEFAULTS)) {
      assert.ok(
        `RATE_LIMIT_${name.toUpperCase()}` in env,
        `.env.example lacks RATE_LIMIT_${name.toUpperCase()}`,
      );
    }
    assert.deepEqual(config.rateLimits, loadConfig({}).rateLimits, '.env.example shows the defaults');
  });

  it('stops the server with one line naming the variable and exit code 1', () => {
    const result = spawnSync(process.execPath, ['src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: 'abc' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr.trim(),
      'parley: invalid configuration: PORT: expected an integer between 0 and 65535, got "abc"',
    );
  });
});
