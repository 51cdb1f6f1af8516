import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/pseudonymization/feed-cursor';
import { createPseudonymKeys } from '../../src/pseudonymization/pseudonyms';

const root = randomBytes(32);
const keysOf = createPseudonymKeys(root);

describe('pseudonyms', () => {
  it('are stable per recipient, differ across recipients and kinds, and carry >= 128 bits', () => {
    const id = randomUUID();
    const a = keysOf('analytics').pseudonym('subject', id);
    expect(a).toMatch(/^ps1_[A-Za-z0-9_-]{24}$/);
    expect(keysOf('analytics').pseudonym('subject', id)).toBe(a);
    expect(createPseudonymKeys(root)('analytics').pseudonym('subject', id)).toBe(a);
    expect(keysOf('warehouse').pseudonym('subject', id)).not.toBe(a);
    expect(keysOf('analytics').pseudonym('return', id)).not.toBe(a);
    expect(createPseudonymKeys(randomBytes(32))('analytics').pseudonym('subject', id)).not.toBe(a);
  });

  it('never collide over many ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(keysOf('analytics').pseudonym('return', randomUUID()));
    expect(seen.size).toBe(10_000);
  });
});

describe('feed cursor', () => {
  const key = keysOf('analytics').cursorKey;

  it('round-trips any position', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 63n }),
        (xid, seq) => {
          expect(decodeCursor(encodeCursor({ xid, seq }, key), key)).toEqual({ xid, seq });
        },
      ),
    );
  });

  it('refuses any edited cursor, a cursor of another recipient and garbage', () => {
    const cursor = encodeCursor({ xid: 1234n, seq: 99n }, key);
    fc.assert(
      fc.property(fc.nat({ max: cursor.length - 1 }), fc.constantFrom(...'ABCxyz019-_'), (at, char) => {
        fc.pre(cursor[at] !== char);
        const edited = cursor.slice(0, at) + char + cursor.slice(at + 1);
        expect(() => decodeCursor(edited, key)).toThrow(expect.objectContaining({ code: 'invalid_cursor' }));
      }),
    );
    const other = keysOf('warehouse').cursorKey;
    expect(() => decodeCursor(cursor, other)).toThrow(expect.objectContaining({ code: 'invalid_cursor' }));
    for (const bad of ['', 'abc', `${cursor}A`, 'x'.repeat(500), `${cursor.slice(0, -2)}==`]) {
      expect(() => decodeCursor(bad, key)).toThrow(expect.objectContaining({ code: 'invalid_cursor' }));
    }
  });
});
