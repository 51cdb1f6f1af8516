import { hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hkdfExpander, hkdfExtract } from '../../src/crypto/hkdf';

describe('HKDF-SHA256 in two steps', () => {
  it('derives the bytes of node:crypto hkdfSync with no salt, for any key and info', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.string(), (key, info) => {
        const expected = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
        expect(hkdfExpander(hkdfExtract(Buffer.from(key)))(info).equals(expected)).toBe(true);
      }),
    );
  });

  it('gives different keys for different infos and different input keys', () => {
    const expand = hkdfExpander(hkdfExtract(randomBytes(32)));
    const a = expand('returnvault:field:v1:returns.city_enc');
    expect(a).toHaveLength(32);
    expect(a.equals(expand('returnvault:field:v1:returns.iban_enc'))).toBe(false);
    expect(
      a.equals(hkdfExpander(hkdfExtract(randomBytes(32)))('returnvault:field:v1:returns.city_enc')),
    ).toBe(false);
  });
});
