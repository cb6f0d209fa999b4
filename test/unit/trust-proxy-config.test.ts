import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConfigError, loadConfig } from '../../src/config.ts';

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('TRUST_PROXY and BODY_LIMIT', () => {
  it('refuses true, naming what to give instead', () => {
    assert.deepEqual(problems({ TRUST_PROXY: 'true' }), [
      `TRUST_PROXY: "true" would trust any client's X-Forwarded-For; give the proxies' addresses/CIDRs or a hop count`,
    ]);
  });

  it('accepts a hop count, addresses, CIDRs and named ranges; refuses anything else by name', () => {
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, ::1, fd00::/8, loopback' }).http.trustProxy, [
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    assert.deepEqual(problems({ TRUST_PROXY: '10.0.0.0/33,proxy.internal' }), [
      'TRUST_PROXY: expected proxy addresses/CIDRs or a hop count, got "10.0.0.0/33, proxy.internal"',
    ]);
  });

  it('limits JSON bodies to 16 KiB unless BODY_LIMIT says otherwise', () => {
    assert.equal(loadConfig({}).http.bodyLimit, 16_384);
    assert.equal(loadConfig({ BODY_LIMIT: '65536' }).http.bodyLimit, 65_536);
  });
});
