/**
 * The Redis factory against the topologies it supports besides a standalone
 * server: Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME) and Cluster
 * (REDIS_CLUSTER_NODES), each started by the test on loopback ports. Through
 * each: readiness is ok, sign-up and authenticated reads work (sessions, cache,
 * Lua scripts, rate limits), and a write on one instance is seen by another.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../helpers/backends.ts';
import { signUp } from '../helpers/fixtures.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';
import { pingRedis } from '../helpers/redis-server.ts';
import { freePort, waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'parley-topologies-'));
const processes: ChildProcess[] = [];

function redis(args: string[]): void {
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  processes.push(proc);
}

/** Two app instances on the given Redis settings: each works, and they see each other's writes. */
function exercise(
  env: () => Record<string, string>,
  b: Parameters<Parameters<typeof describeBackends>[1]>[0],
) {
  let a: FastifyInstance;
  let c: FastifyInstance;
  before(async () => {
    // Replace the backend's standalone REDIS_URL with this topology.
    a = await b.app({ REDIS_URL: undefined, ...env() });
    c = await b.app({ REDIS_URL: undefined, ...env() });
  });

  it('reports ok, and serves sign-up, sessions and cached profiles through it', async () => {
    await waitFor(async () => (await a.inject('/health/ready')).json().status === 'ok', { what: 'ready ok' });
    const u = await signUp(a);
    const me = await c.inject({ url: '/v1/me', headers: u.headers });
    assert.equal(me.statusCode, 200);
    assert.equal(me.headers['ratelimit-policy'] !== undefined, true, 'the API budget counted in Redis');
    const profile = () => c.inject({ url: `/v1/users/${u.userId}`, headers: u.headers });
    assert.equal((await profile()).json().displayName, 'Tester');
    const patched = await a.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: u.headers,
      payload: { displayName: 'Renamed' },
    });
    assert.equal(patched.statusCode, 200);
    await waitFor(async () => (await profile()).json().displayName === 'Renamed', {
      timeoutMs: 1000,
      what: 'c to see the write',
    });
    await a.inject({ method: 'POST', url: '/v1/auth/logout', headers: u.headers });
    assert.equal(
      (await c.inject({ url: '/v1/me', headers: u.headers })).statusCode,
      401,
      'revocation seen by c',
    );
  });
}

describeBackends(
  'Redis topologies',
  (b) => {
    after(() => {
      for (const proc of processes) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    describe('Sentinel', () => {
      let sentinelPort: number;
      before(async () => {
        const masterPort = await freePort();
        sentinelPort = await freePort();
        redis(['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
        await waitFor(() => pingRedis(masterPort), { what: 'master' });
        const conf = join(dir, 'sentinel.conf');
        writeFileSync(
          conf,
          [
            `port ${sentinelPort}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor parley 127.0.0.1 ${masterPort} 1`,
            'sentinel down-after-milliseconds parley 2000',
          ].join('\n'),
        );
        redis([conf, '--sentinel']);
        await waitFor(() => pingRedis(sentinelPort), { what: 'sentinel' });
      });
      exercise(() => ({ REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_NAME: 'parley' }), b);
    });

    describe('TLS (rediss://)', () => {
      let url: string;
      let ca: string;
      before(async () => {
        const port = await freePort();
        ca = join(dir, 'cert.pem');
        const key = join(dir, 'key.pem');
        const cert = spawnSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-keyout',
            key,
            '-out',
            ca,
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-addext',
            'subjectAltName=IP:127.0.0.1',
          ],
          { encoding: 'utf8', timeout: 20_000 },
        );
        assert.equal(cert.status, 0, cert.stderr);
        redis([
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--tls-cert-file',
          ca,
          '--tls-key-file',
          key,
          '--tls-ca-cert-file',
          ca,
          '--tls-auth-clients',
          'no',
          '--save',
          '',
          '--appendonly',
          'no',
        ]);
        url = `rediss://127.0.0.1:${port}`;
        await waitFor(
          () =>
            spawnSync('redis-cli', ['-p', String(port), '--tls', '--cacert', ca, 'ping'], {
              encoding: 'utf8',
            }).stdout.includes('PONG'),
          { what: 'TLS redis' },
        );
      });

      it('connects over TLS when the CA is trusted, and refuses an untrusted certificate', async () => {
        const trusted = await startServer(b.env({ REDIS_URL: url, NODE_EXTRA_CA_CERTS: ca }));
        const untrusted = await startServer(b.env({ REDIS_URL: url }));
        try {
          const status = async (s: ServerProcess) =>
            ((await (await fetch(`${s.url}/health/ready`)).json()) as { status: string }).status;
          await waitFor(async () => (await status(trusted)) === 'ok', { what: 'ok over TLS' });
          assert.equal(await status(untrusted), 'degraded', 'certificate verification is on');
        } finally {
          await Promise.all([trusted.stop(), untrusted.stop()]);
        }
      });
    });

    describe('Cluster', () => {
      const ports: number[] = [];
      before(async () => {
        for (let i = 0; i < 3; i++) ports.push(await freePort());
        for (const port of ports) {
          redis([
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir,
          ]);
        }
        for (const port of ports) await waitFor(() => pingRedis(port), { what: `node ${port}` });
        const created = spawnSync(
          'redis-cli',
          [
            '--cluster',
            'create',
            ...ports.map((p) => `127.0.0.1:${p}`),
            '--cluster-replicas',
            '0',
            '--cluster-yes',
          ],
          { encoding: 'utf8', timeout: 20_000 },
        );
        assert.equal(created.status, 0, created.stdout + created.stderr);
        await waitFor(
          () =>
            spawnSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], {
              encoding: 'utf8',
            }).stdout.includes('cluster_state:ok'),
          { timeoutMs: 10_000, what: 'cluster_state:ok' },
        );
      });
      exercise(() => ({ REDIS_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(',') }), b);
    });
  },
  { only: ['services'] },
);
