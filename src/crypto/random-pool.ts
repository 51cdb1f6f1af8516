import { randomFillSync } from 'node:crypto';

/*
 * Random bytes for IVs and data keys, drawn from a pool filled 16 KiB at a time. Encrypting a return
 * takes a dozen IVs and a key or two, and each randomBytes call cost more than the bytes it returned
 * (a crossing into C++ and a locked DRBG call each). The bytes are the same CSPRNG output; no byte is
 * handed out twice, and a used-up pool is replaced, never refilled in place, so a slice handed out
 * keeps its bytes.
 */

const poolBytes = 16 * 1024;
let pool = Buffer.alloc(0);
let offset = 0;

/** `length` fresh random bytes (at most the pool's size). */
export function pooledRandomBytes(length: number): Buffer {
  if (length > poolBytes) throw new RangeError(`pooledRandomBytes: at most ${poolBytes} bytes at a time`);
  if (offset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(poolBytes));
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + length);
  offset += length;
  return bytes;
}
