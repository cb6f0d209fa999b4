/**
 * Rooms over HTTP, both backends: the room lifecycle (create, join, leave,
 * ownership passing on, closing), moderation, reads and lists, and bad input.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { describeBackends } from '../../helpers/backends.ts';
import { type SignedUp, signUp } from '../../helpers/fixtures.ts';
import { call, createRoom, type RoomBody, roomInvariantViolations } from './helpers.ts';

describeBackends('rooms', (b) => {
  let app: FastifyInstance;
  before(async () => {
    app = await b.app({ RATE_LIMIT_ROOM_CREATE_USER: 'off' });
  });
  const users = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => signUp(app, `User ${i}`)));
  const consistent = async () => assert.deepEqual(await roomInvariantViolations(b.sql().db), []);

  it('create: the creator is owner and member; slug from the name, unique, stable after a rename', async () => {
    const [owner, other] = await users(2);
    const room = await createRoom(app, owner as SignedUp, {
      name: 'Café Crème!',
      topic: 'Bonjour',
      language: 'FR-ca',
    });
    assert.equal(room.slug, 'cafe-creme');
    assert.equal(room.language, 'fr-CA', 'stored canonical');
    assert.equal(room.ownerId, owner?.userId);
    assert.equal(room.participantCount, 1);
    assert.equal(room.maxParticipants, 50);
    const again = await createRoom(app, other as SignedUp, { name: 'Cafe creme' });
    assert.match(again.slug, /^cafe-creme-[a-z0-9]+$/);
    const renamed = await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { name: 'Tea time' });
    assert.equal(renamed.status, 200);
    assert.equal((renamed.body as unknown as RoomBody).slug, 'cafe-creme');
    const bySlug = await call(app, other, 'GET', '/v1/rooms/cafe-creme');
    assert.equal((bySlug.body as unknown as RoomBody).name, 'Tea time');
    const mine = await call(app, owner, 'GET', '/v1/me/room');
    assert.equal((mine.body as unknown as RoomBody).id, room.id);
    await consistent();
  });

  it('join, leave, ownership passes to the longest-present member (moderators first), the last one out closes', async () => {
    const [owner, first, second, mod] = (await users(4)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp);
    for (const u of [first, second, mod])
      assert.equal((await call(app, u, 'POST', `/v1/rooms/${room.id}/join`)).status, 200);
    assert.equal(
      (await call(app, owner, 'POST', `/v1/rooms/${room.id}/moderators`, { userId: mod?.userId })).status,
      204,
    );
    assert.equal((await call(app, owner, 'POST', `/v1/rooms/${room.id}/leave`)).status, 204);
    let view = (await call(app, first, 'GET', `/v1/rooms/${room.id}`)).body as unknown as RoomBody;
    assert.equal(view.ownerId, mod?.userId, 'the moderator inherits before longer-present members');
    assert.equal(view.participantCount, 3);
    assert.equal((await call(app, mod, 'POST', `/v1/rooms/${room.id}/leave`)).status, 204);
    view = (await call(app, first, 'GET', `/v1/rooms/${room.id}`)).body as unknown as RoomBody;
    assert.equal(view.ownerId, first?.userId, 'then the longest present');
    assert.equal((await call(app, owner, 'GET', '/v1/me/room')).status, 204);
    await call(app, second, 'POST', `/v1/rooms/${room.id}/leave`);
    await call(app, first, 'POST', `/v1/rooms/${room.id}/leave`);
    view = (await call(app, first, 'GET', `/v1/rooms/${room.id}`)).body as unknown as RoomBody;
    assert.equal(view.status, 'closed');
    assert.equal(view.participantCount, 0);
    const rejoin = await call(app, first, 'POST', `/v1/rooms/${room.id}/join`);
    assert.equal(rejoin.status, 410);
    assert.equal(rejoin.body.code, 'ROOM_CLOSED');
    await consistent();
  });

  it('a user is in one room: joining or creating another moves them (left_reason moved)', async () => {
    const [a, c] = (await users(2)) as SignedUp[];
    const one = await createRoom(app, a as SignedUp, { name: 'One' });
    const two = await createRoom(app, c as SignedUp, { name: 'Two' });
    await call(app, c, 'POST', `/v1/rooms/${one.id}/join`);
    const stays = await b
      .sql()
      .db.selectFrom('room_members')
      .selectAll()
      .where('user_id', '=', c?.userId as string)
      .orderBy('joined_at')
      .execute();
    assert.deepEqual(
      stays.map((s) => [s.room_id, s.left_reason]),
      [
        [two.id, 'moved'],
        [one.id, null],
      ],
    );
    assert.equal(
      ((await call(app, a, 'GET', `/v1/rooms/${two.id}`)).body as unknown as RoomBody).status,
      'closed',
    );
    await consistent();
  });

  it('capacity: 409 ROOM_FULL at max; capacity cannot drop below the count', async () => {
    const [owner, x, y] = (await users(3)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp, { maxParticipants: 2 });
    assert.equal((await call(app, x, 'POST', `/v1/rooms/${room.id}/join`)).status, 200);
    const full = await call(app, y, 'POST', `/v1/rooms/${room.id}/join`);
    assert.equal(full.status, 409);
    assert.equal(full.body.code, 'ROOM_FULL');
    const shrink = await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { maxParticipants: 2 });
    assert.equal(shrink.status, 200);
    await call(app, x, 'POST', `/v1/rooms/${room.id}/leave`);
    assert.equal(
      (await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { maxParticipants: 500 })).status,
      200,
    );
    await call(app, x, 'POST', `/v1/rooms/${room.id}/join`);
    await call(app, y, 'POST', `/v1/rooms/${room.id}/join`);
    const below = await call(app, owner, 'PATCH', `/v1/rooms/${room.id}`, { maxParticipants: 2 });
    assert.equal(below.body.code, 'ROOM_CAPACITY_BELOW_COUNT');
  });

  it('kick: owner or moderator only; the kicked user cannot rejoin for 10 minutes', async () => {
    const [owner, mod, member, other] = (await users(4)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp);
    for (const u of [mod, member, other]) await call(app, u, 'POST', `/v1/rooms/${room.id}/join`);
    await call(app, owner, 'POST', `/v1/rooms/${room.id}/moderators`, { userId: mod?.userId });
    const byMember = await call(app, member, 'POST', `/v1/rooms/${room.id}/kick`, { userId: other?.userId });
    assert.equal(byMember.status, 403);
    assert.equal(byMember.body.code, 'ROOM_FORBIDDEN');
    const modKicksOwner = await call(app, mod, 'POST', `/v1/rooms/${room.id}/kick`, {
      userId: owner?.userId,
    });
    assert.equal(modKicksOwner.body.code, 'ROOM_FORBIDDEN');
    assert.equal(
      (await call(app, mod, 'POST', `/v1/rooms/${room.id}/kick`, { userId: member?.userId })).status,
      204,
    );
    const rejoin = await call(app, member, 'POST', `/v1/rooms/${room.id}/join`);
    assert.equal(rejoin.status, 403);
    assert.equal(rejoin.body.code, 'ROOM_KICKED');
    assert.ok(Number(rejoin.headers['retry-after']) > 590);
    const gone = await call(app, owner, 'POST', `/v1/rooms/${room.id}/kick`, { userId: member?.userId });
    assert.equal(gone.body.code, 'ROOM_NOT_MEMBER');
    await consistent();
  });

  it('transfer and moderators are the owner’s; another user’s room cannot be changed (403)', async () => {
    const [owner, member, stranger] = (await users(3)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp);
    await call(app, member, 'POST', `/v1/rooms/${room.id}/join`);
    for (const [method, url, payload] of [
      ['PATCH', `/v1/rooms/${room.id}`, { name: 'Mine now' }],
      ['DELETE', `/v1/rooms/${room.id}`, undefined],
      ['POST', `/v1/rooms/${room.id}/transfer`, { userId: member?.userId }],
      ['POST', `/v1/rooms/${room.id}/moderators`, { userId: member?.userId }],
      ['DELETE', `/v1/rooms/${room.id}/moderators/${member?.userId}`, undefined],
    ] as const) {
      const res = await call(app, stranger, method, url, payload);
      assert.equal(res.status, 403, `${method} ${url}`);
      assert.equal(res.body.code, 'ROOM_FORBIDDEN');
    }
    assert.equal(
      (await call(app, owner, 'POST', `/v1/rooms/${room.id}/transfer`, { userId: member?.userId })).status,
      204,
    );
    const view = (await call(app, owner, 'GET', `/v1/rooms/${room.id}`)).body as unknown as RoomBody;
    assert.equal(view.ownerId, member?.userId);
    const participants = await call(app, owner, 'GET', `/v1/rooms/${room.id}/participants`);
    assert.deepEqual(
      (participants.body.items as { userId: string; role: string }[]).map((p) => [p.userId, p.role]),
      [
        [owner?.userId, 'moderator'],
        [member?.userId, 'owner'],
      ],
    );
    await consistent();
  });

  it('close: the owner closes, members are moved out with left_reason closed', async () => {
    const [owner, member] = (await users(2)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp);
    await call(app, member, 'POST', `/v1/rooms/${room.id}/join`);
    assert.equal((await call(app, owner, 'DELETE', `/v1/rooms/${room.id}`)).status, 204);
    assert.equal((await call(app, member, 'GET', '/v1/me/room')).status, 204);
    const reasons = await b
      .sql()
      .db.selectFrom('room_members')
      .select('left_reason')
      .where('room_id', '=', room.id)
      .execute();
    assert.deepEqual(
      reasons.map((r) => r.left_reason),
      ['closed', 'closed'],
    );
    await consistent();
  });

  it('lists: active public rooms of a language, most participants first then newest; languages counted', async () => {
    const [a, c, d, e] = (await users(4)) as SignedUp[];
    const small = await createRoom(app, a as SignedUp, { name: 'Small', language: 'de' });
    const big = await createRoom(app, c as SignedUp, { name: 'Big', language: 'de' });
    const newest = await createRoom(app, d as SignedUp, { name: 'Newest', language: 'de' });
    await createRoom(app, e as SignedUp, { name: 'Hidden', language: 'de', visibility: 'unlisted' });
    const [j] = (await users(1)) as SignedUp[];
    await call(app, j, 'POST', `/v1/rooms/${big.id}/join`);
    const list = await call(app, a, 'GET', '/v1/rooms?language=de');
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.body.items as RoomBody[]).map((r) => r.id),
      [big.id, newest.id, small.id],
    );
    const languages = await call(app, a, 'GET', '/v1/rooms/languages');
    assert.ok(
      (languages.body.items as { language: string; rooms: number }[]).some(
        (l) => l.language === 'de' && l.rooms === 3,
      ),
    );
  });

  it('a walk through the list never repeats or skips a room while people join and leave', async () => {
    const creators = (await users(12)) as SignedUp[];
    const created = new Set<string>();
    for (const [i, u] of creators.entries())
      created.add((await createRoom(app, u, { name: `Walk ${i}`, language: 'it' })).id);
    const joiners = (await users(6)) as SignedUp[];
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const res = await call(
        app,
        creators[0],
        'GET',
        `/v1/rooms?language=it&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      seen.push(...(res.body.items as RoomBody[]).map((r) => r.id));
      cursor = res.body.nextCursor as string | null;
      // Between pages, rooms further down the list gain members and would jump ahead of the cursor.
      const target = [...created][11 - page];
      for (const j of joiners.slice(page * 2, page * 2 + 2))
        await call(app, j, 'POST', `/v1/rooms/${target}/join`);
      page += 1;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'no room twice');
    assert.deepEqual(new Set(seen), created, 'none skipped');
  });

  it('unlisted rooms: reachable by id, not by slug (no existence leak), never listed', async () => {
    const [owner, other] = (await users(2)) as SignedUp[];
    const room = await createRoom(app, owner as SignedUp, { name: 'Secret club', visibility: 'unlisted' });
    assert.equal((await call(app, other, 'GET', `/v1/rooms/${room.id}`)).status, 200);
    const bySlug = await call(app, other, 'GET', `/v1/rooms/${room.slug}`);
    const missing = await call(app, other, 'GET', '/v1/rooms/no-such-room-here');
    assert.equal(bySlug.status, 404);
    assert.equal(bySlug.body.code, missing.body.code);
    assert.equal(
      (await call(app, owner, 'GET', `/v1/rooms/${room.slug}`)).status,
      200,
      'its members may use the slug',
    );
  });

  it('bad input → 400 problem, nothing stored', async () => {
    const [u] = (await users(1)) as SignedUp[];
    const count = async () =>
      Number(
        (
          await b
            .sql()
            .db.selectFrom('rooms')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const bad: object[] = [
      { name: 'x', language: 'xx-invalid-tag-zzzzzzzzzzzz' },
      { name: 'x', language: 'qq' },
      { name: 'x', language: 'en_US' },
      { name: '', language: 'en' },
      { name: '   ', language: 'en' },
      { name: '\u200B\u200D', language: 'en' },
      { name: 'a\u0000b', language: 'en' },
      { name: 'evil\u202Etxt', language: 'en' },
      { name: '\uD800', language: 'en' },
      { name: 'x'.repeat(81), language: 'en' },
      { name: 'x'.repeat(10_000), language: 'en' },
      { name: 'ok', topic: 't'.repeat(281), language: 'en' },
      { name: 'ok', language: 'en', maxParticipants: 1 },
      { name: 'ok', language: 'en', maxParticipants: 501 },
      { name: 'ok', language: 'en', maxParticipants: '10' },
      { name: 'ok', language: 'en', role: 'owner' },
      { name: ['ok'], language: 'en' },
    ];
    for (const payload of bad) {
      const res = await call(app, u, 'POST', '/v1/rooms', payload);
      assert.equal(res.status, 400, JSON.stringify(payload));
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
    for (const url of [
      '/v1/rooms/..%2F..%2Fetc',
      '/v1/rooms/%D0%B0bc',
      '/v1/rooms/Abc',
      '/v1/rooms/1%20OR%201%3D1',
      '/v1/rooms?cursor=abc',
      '/v1/rooms?language=zz-%00',
    ]) {
      assert.equal((await call(app, u, 'GET', url)).status, 400, url);
    }
    for (const id of ['1 OR 1=1', '1e3', '-0', '9007199254740993']) {
      assert.equal((await call(app, u, 'POST', `/v1/rooms/${encodeURIComponent(id)}/join`)).status, 400, id);
    }
    assert.equal(await count(), before);
  });

  it('text is stored verbatim (NFC) and returned as JSON: emoji, injection strings', async () => {
    const [u] = (await users(1)) as SignedUp[];
    for (const name of [
      "' OR '1'='1' -- ",
      '<script>alert(1)</script>',
      'Olá 👋🏽 مرحبا',
      '"; DROP TABLE rooms; --',
    ]) {
      const room = await createRoom(app, u as SignedUp, { name, topic: `${name} %_` });
      assert.equal(room.name, name);
      const read = (await call(app, u, 'GET', `/v1/rooms/${room.id}`)).body as unknown as RoomBody;
      assert.equal(read.name, name);
      assert.equal(read.topic, `${name} %_`);
    }
  });

  it('tampered cursors → 400 CURSOR_INVALID', async () => {
    const creators = (await users(3)) as SignedUp[];
    for (const u of creators) await createRoom(app, u, { language: 'pt' });
    const first = await call(app, creators[0], 'GET', '/v1/rooms?language=pt&limit=1');
    const cursor = first.body.nextCursor as string;
    assert.ok(cursor);
    const [body, tag] = cursor.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({
        k: 'rooms:pt',
        v: { walk: null, offset: 0, after: { count: 0, createdAt: 0, id: creators[0]?.userId } },
      }),
    ).toString('base64url');
    // The signature's last character changed to a different one (never to itself).
    const flipped = `${tag.slice(0, -1)}${tag.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`${forged}.${tag}`, `${body}.${flipped}`, `${body}x.${tag}`, body]) {
      const res = await call(
        app,
        creators[0],
        'GET',
        `/v1/rooms?language=pt&limit=1&cursor=${encodeURIComponent(bad)}`,
      );
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'CURSOR_INVALID');
    }
    const otherList = await call(app, creators[0], 'GET', `/v1/rooms?language=de&limit=1&cursor=${cursor}`);
    assert.equal(otherList.body.code, 'CURSOR_INVALID', 'a cursor is bound to its list');
  });

  it('OpenAPI: every rooms operation has an operationId, a summary, the rooms tag, bearer security and problem+json errors', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          {
            operationId?: string;
            summary?: string;
            tags?: string[];
            security?: unknown[];
            responses: Record<string, { content?: Record<string, unknown> }>;
          }
        >
      >;
    };
    const ops = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/rooms') || path === '/v1/me/room')
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({ at: `${method} ${path}`, op })),
      );
    assert.equal(ops.length, 14);
    assert.equal(new Set(ops.map(({ op }) => op.operationId)).size, 14, 'unique operationIds');
    for (const { at, op } of ops) {
      assert.ok(op.operationId && op.summary, at);
      assert.deepEqual(op.tags, ['rooms'], at);
      assert.deepEqual(op.security, [{ bearer: [] }], at);
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400)
          assert.ok(response.content?.['application/problem+json'], `${at} ${status}`);
      }
    }
  });
});
