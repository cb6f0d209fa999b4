/**
 * The real process: `node src/server.ts` starts on the backend's database,
 * serves, and on SIGTERM stops accepting, closes its pools and exits 0 —
 * even with an idle keep-alive connection open.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { it } from 'node:test';
import { describeBackends } from '../helpers/backends.ts';
import { freePort, waitFor } from '../helpers/wait.ts';

function get(port: number, path: string, agent?: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describeBackends('server process', (b) => {
  it('serves, logs no secrets, then shuts down gracefully on SIGTERM with exit code 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['src/server.ts'], {
      env: {
        PATH: process.env.PATH,
        ...b.env({ PORT: String(port), LOG_LEVEL: 'info', DATABASE_AUTO_MIGRATE: 'true' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => (await get(port, '/health/live')).status === 200, {
        timeoutMs: 15_000,
        what: 'server up',
      });
      const ready = JSON.parse((await get(port, '/health/ready')).body);
      assert.equal(ready.status, b.backend === 'embedded' ? 'degraded' : 'ok');
      const agent = new Agent({ keepAlive: true });
      assert.equal((await get(port, '/health/live', agent)).status, 200); // leaves an idle keep-alive socket
      // A18: drive auth flows, then grep everything the server logged for the secrets involved.
      const password = 'log-canary correct horse battery';
      const post = (path: string, body: object, headers: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${port}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
      // Each step must succeed, or the grep below would look for secrets (or `undefined`) never issued.
      const register = await post('/v1/auth/register', {
        email: `${randomUUID()}@example.test`,
        password,
        displayName: 'Log',
      });
      assert.equal(register.status, 201);
      const registered = (await register.json()) as {
        user: { email: string };
        accessToken: string;
        refreshToken: string;
      };
      const wrong = await post('/v1/auth/login', {
        email: registered.user.email,
        password: 'wrong log-canary password',
      });
      assert.equal(wrong.status, 401);
      const refresh = await post('/v1/auth/refresh', { refreshToken: registered.refreshToken });
      assert.equal(refresh.status, 200);
      const refreshed = (await refresh.json()) as { accessToken: string; refreshToken: string };
      const me = await fetch(`http://127.0.0.1:${port}/v1/me`, {
        headers: { authorization: `Bearer ${refreshed.accessToken}` },
      });
      assert.equal(me.status, 200);
      child.kill('SIGTERM');
      // The 8 s cap is a contract bound on graceful shutdown (pools closed, idle keep-alive dropped), which
      // takes well under a second here; its timer is cleared so it never outlives the test.
      let cap: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => {
          cap = setTimeout(() => r('timeout'), 8000);
        }),
      ]).finally(() => clearTimeout(cap));
      // Request loggers are created lazily (src/http/lazy-logger.ts): the lines still carry the request id.
      assert.match(output, /"reqId":"[0-9a-f-]{36}"[^\n]*"msg":"incoming request"/, 'requests were logged');
      for (const secret of [
        password,
        'wrong log-canary',
        registered.accessToken,
        registered.refreshToken,
        refreshed.accessToken,
        refreshed.refreshToken,
      ]) {
        assert.ok(!output.includes(secret), 'a password or token reached the logs');
      }
      assert.equal(code, 0, output);
      assert.match(output, /"signal":"SIGTERM".*shutting down/);
      agent.destroy();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
