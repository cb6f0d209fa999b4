/**
 * Two real server processes on one MariaDB + Redis (SPEC §7, §11.4; RELIABILITY
 * H5): rate-limit counts are exact across processes, a cold key is loaded once
 * in total, and a committed write reaches both processes' caches.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deleteKeys, describeBackends } from '../helpers/backends.ts';
import { insertUser } from '../helpers/fixtures.ts';
import { counterValue, type ServerProcess, startServer } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';

describeBackends(
  'two server processes on one Redis',
  (b) => {
    const servers: ServerProcess[] = [];
    /** Two processes with `env`, and one account registered on the first (its token is valid on both). */
    async function startPair(env: Record<string, string>) {
      const pair = [await startServer(b.env({ LOG_LEVEL: 'warn', ...env }))];
      servers.push(pair[0] as ServerProcess);
      pair.push(await startServer(b.env({ LOG_LEVEL: 'warn', ...env })));
      servers.push(pair[1] as ServerProcess);
      const registered = await fetch(`${(pair[0] as ServerProcess).url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `${randomUUID()}@example.test`,
          password: 'correct horse battery staple',
          displayName: 'P',
        }),
      });
      assert.equal(registered.status, 201);
      const token = ((await registered.json()) as { accessToken: string }).accessToken;
      return { pair, headers: { authorization: `Bearer ${token}` } };
    }
    after(() => Promise.all(servers.map((s) => s.stop())));

    describe('with a per-user API budget of 100/min', () => {
      const pair: ServerProcess[] = [];
      let headers: { authorization: string };
      before(async () => {
        const started = await startPair({ RATE_LIMIT_API_USER: '100/1m' });
        pair.push(...started.pair);
        headers = started.headers;
      });

      it('admits exactly the limit across two processes hammering one user’s budget (limit 100)', async () => {
        const statuses = await Promise.all(
          Array.from({ length: 400 }, (_, i) =>
            fetch(`${(pair[i % 2] as ServerProcess).url}/v1/users/${randomUUID()}`, { headers }).then(
              (r) => r.status,
            ),
          ),
        );
        assert.equal(
          statuses.filter((s) => s !== 429).length,
          100,
          'exactly the limit, across both processes',
        );
        await deleteKeys(b.env().REDIS_URL as string, `${b.redisPrefix}v1:rl:*`); // a fresh budget for the next test
      });
      it('a profile update commits once and both processes serve the new value (L2 + bus → L1)', async () => {
        const { id } = await insertUser(b.sql().db, { display_name: 'before' });
        const name = async (s: ServerProcess) =>
          ((await (await fetch(`${s.url}/v1/users/${id}`, { headers })).json()) as { displayName: string })
            .displayName;
        for (const s of pair) assert.equal(await name(s), 'before'); // now in each process's L1 and in Redis
        const writer = await b.app(); // a third instance commits the change and invalidates
        await writer.users.updateProfile(id, { display_name: 'after' });
        for (const s of pair) {
          // Each process's L1 copy would otherwise live 5 s (the L1 TTL): seeing the write within half of
          // that proves the bus dropped it, with hundreds of times what a loopback publish takes to spare.
          await waitFor(async () => (await name(s)) === 'after', {
            timeoutMs: 2500,
            intervalMs: 5,
            what: `port ${s.port}`,
          });
        }
      });
    });

    describe('with a budget that admits the whole burst', () => {
      const pair: ServerProcess[] = [];
      let headers: { authorization: string };
      let userId: string;
      before(async () => {
        userId = (await insertUser(b.sql().db, { display_name: 'Hot' })).id;
        // 500 reads plus the warm-up from one account: the budget must not refuse any of them, or the
        // query count below would cover only the reads it admitted. The budget stays on (its Redis calls
        // are part of every read) rather than 'off'.
        const started = await startPair({ RATE_LIMIT_API_USER: '1000/1m' });
        pair.push(...started.pair);
        headers = started.headers;
      });

      it('H5: 500 concurrent reads of a cold profile split over two processes run exactly 1 SQL query per cold key', async () => {
        const selects = async () => {
          let total = 0;
          for (const s of pair) {
            total += counterValue(
              await (await fetch(`${s.url}/metrics`)).text(),
              'parley_sql_queries_total',
              {
                verb: 'select',
              },
            );
          }
          return total;
        };
        // Warm this session's state on both processes, so only the profile is cold: two keys, the
        // public profile and its lastSeenAt (GET /v1/users/:id carries presence).
        const coldKeys = 2;
        for (const s of pair) await fetch(`${s.url}/v1/me`, { headers });
        const before = await selects();
        const statuses = await Promise.all(
          Array.from({ length: 500 }, (_, i) =>
            fetch(`${(pair[i % 2] as ServerProcess).url}/v1/users/${userId}`, { headers }).then(
              (r) => r.status,
            ),
          ),
        );
        assert.deepEqual(statuses, Array(500).fill(200), 'every read is served');
        assert.equal((await selects()) - before, coldKeys, 'one SQL query per cold key in total');
      });
    });
  },
  { only: ['services'] },
);
