import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createShortHmac } from '../../src/crypto/short-hmac';

const reference = (key: Uint8Array, message: string) =>
  createHmac('sha256', key).update(message).digest('hex');

describe('short HMAC-SHA256', () => {
  it('matches RFC 4231 test case 2', () => {
    const mac = createShortHmac(Buffer.from('Jefe'));
    expect(mac('what do ya want for nothing?').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('equals node:crypto for any key and any message, short or long, ASCII or not', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 60 })),
        (key, message) => {
          expect(createShortHmac(Buffer.from(key))(message).toString('hex')).toBe(reference(key, message));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('equals node:crypto at every message length around the one-block limit', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const mac = createShortHmac(key);
    for (let length = 0; length <= 70; length++) {
      const message = 'x'.repeat(length);
      expect(mac(message).toString('hex'), `length ${length}`).toBe(reference(key, message));
    }
  });
});
