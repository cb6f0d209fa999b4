import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import '../../src/app.ts'; // imports every module, so every code is registered
import { AppError, defineErrors, registeredErrors, toProblem } from '../../src/errors.ts';

describe('error registry', () => {
  const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code with its status', () => {
    for (const [code, { status }] of registeredErrors()) {
      assert.match(
        docs,
        new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm'),
        `${code} missing from docs/errors.md`,
      );
    }
  });

  it('lists nothing in the docs that the code does not define (codes are never silently dropped)', () => {
    const documented = [...docs.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), [...registeredErrors().keys()].sort());
  });

  it('uses SCREAMING_SNAKE codes and sane statuses', () => {
    for (const [code, { status }] of registeredErrors()) {
      assert.match(code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(status >= 400 && status < 600, code);
    }
  });

  it('refuses to define a code twice', () => {
    assert.throws(() => defineErrors({ NOT_FOUND: { status: 404, title: 'again' } }), /defined twice/);
  });

  it('renders detail for 4xx only', () => {
    const client = toProblem(new AppError('VALIDATION_FAILED', 'body.name too long'), { requestId: 'r' });
    assert.equal(client.detail, 'body.name too long');
    const server = toProblem(new AppError('INTERNAL', 'select * from users failed'), { requestId: 'r' });
    assert.equal(server.detail, undefined);
    assert.equal(server.type, 'urn:parley:error:INTERNAL');
  });
});
