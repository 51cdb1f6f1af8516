import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { createShortHmac } from './short-hmac';

/*
 * HKDF-SHA256 (RFC 5869) with no salt, in its two steps. The extract depends only on the data key, so
 * a keyset runs it once per key and each field key then costs one HMAC, under the PRK's precomputed
 * midstates (short-hmac.ts); node's hkdfSync redoes both steps and builds key objects on every call,
 * which made it the largest cost of encrypting a return. The bytes are those of
 * hkdfSync('sha256', key, empty salt, info, 32): test/crypto/hkdf.test.ts.
 */

/** PRK = HMAC-SHA256(salt, IKM); no salt means HashLen zero bytes, which HMAC pads like an empty key. */
export function hkdfExtract(inputKey: Buffer): Buffer {
  return createHmac('sha256', Buffer.alloc(32)).update(inputKey).digest();
}

/** For one PRK, the first 32 bytes of the expansion of each info: T(1) = HMAC-SHA256(PRK, info || 0x01). */
export function hkdfExpander(prk: Buffer): (info: string) => Buffer {
  const hmac = createShortHmac(prk, Buffer.allocUnsafeSlow);
  return (info) => hmac(`${info}\u0001`);
}
