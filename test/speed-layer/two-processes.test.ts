/**
 * Two real server processes on one MariaDB + Redis (SPEC §7, §11.4; RELIABILITY
 * H5): rate-limit counts are exact across processes, a cold key is loaded once
 * in total, and a committed write reaches both processes' caches.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { deleteKeys, describeBackends } from '../helpers/backends.ts';
import { insertUser } from '../helpers/fixtures.ts';
import { counterValue, type ServerProcess, startServer } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';

describeBackends(
  'two server processes on one Redis',
  (b) => {
    const servers: ServerProcess[] = [];
    let userId: string;
    let headers: { authorization: string };
    before(async () => {
      userId = (await insertUser(b.sql().db, { display_name: 'Hot' })).id;
      const env = b.env({ RATE_LIMIT_API_USER: '100/1m', LOG_LEVEL: 'warn' });
      servers.push(await startServer(env), await startServer(env));
      // One account, registered on the first process; its token is valid on both (shared key and database).
      const registered = await fetch(`${(servers[0] as ServerProcess).url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `${randomUUID()}@example.test`,
          password: 'correct horse battery staple',
          displayName: 'P',
        }),
      });
      headers = {
        authorization: `Bearer ${((await registered.json()) as { accessToken: string }).accessToken}`,
      };
    });
    after(() => Promise.all(servers.map((s) => s.stop())));

    it('admits exactly the limit across two processes hammering one user’s budget (limit 100)', async () => {
      const statuses = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          fetch(`${(servers[i % 2] as ServerProcess).url}/v1/users/${randomUUID()}`, { headers }).then(
            (r) => r.status,
          ),
        ),
      );
      assert.equal(statuses.filter((s) => s !== 429).length, 100, 'exactly the limit, across both processes');
      await deleteKeys(b.env().REDIS_URL as string, `${b.redisPrefix}v1:rl:*`); // a fresh budget for the next test
    });
    it('a profile update commits once and both processes serve the new value (L2 + bus → L1)', async () => {
      const { id } = await insertUser(b.sql().db, { display_name: 'before' });
      const name = async (s: ServerProcess) =>
        ((await (await fetch(`${s.url}/v1/users/${id}`, { headers })).json()) as { displayName: string })
          .displayName;
      for (const s of servers) assert.equal(await name(s), 'before'); // now in each process's L1 and in Redis
      const writer = await b.app(); // a third instance commits the change and invalidates
      await writer.users.updateProfile(id, { display_name: 'after' });
      for (const s of servers) {
        await waitFor(async () => (await name(s)) === 'after', {
          timeoutMs: 1000,
          intervalMs: 5,
          what: `port ${s.port}`,
        });
      }
    });

    it('H5: 500 concurrent reads of a cold key split over two processes run exactly 1 SQL query', async () => {
      const selects = async () => {
        let total = 0;
        for (const s of servers) {
          total += counterValue(await (await fetch(`${s.url}/metrics`)).text(), 'parley_sql_queries_total', {
            verb: 'select',
          });
        }
        return total;
      };
      // Warm this session's state on both processes, so only the profile itself is cold.
      for (const s of servers) await fetch(`${s.url}/v1/me`, { headers });
      const before = await selects();
      const statuses = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          fetch(`${(servers[i % 2] as ServerProcess).url}/v1/users/${userId}`, { headers }).then(
            (r) => r.status,
          ),
        ),
      );
      assert.equal(statuses.filter((s) => s === 200).length + statuses.filter((s) => s === 429).length, 500);
      assert.equal((await selects()) - before, 1, 'one SQL query in total');
    });
  },
  { only: ['services'] },
);
