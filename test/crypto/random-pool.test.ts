import { describe, expect, it } from 'vitest';
import { pooledRandomBytes } from '../../src/crypto/random-pool';

describe('pooled random bytes', () => {
  it('never hands out the same bytes twice, and a slice keeps its bytes when the pool is replaced', () => {
    const first = pooledRandomBytes(32);
    const firstCopy = Buffer.from(first);
    // Enough draws to use up several 16 KiB pools, with sizes that do not divide it.
    const draws = Array.from({ length: 5_000 }, (_, i) => pooledRandomBytes(i % 2 === 0 ? 12 : 32));
    expect(new Set(draws.map((bytes) => bytes.toString('hex'))).size).toBe(draws.length);
    expect(draws.every((bytes, i) => bytes.length === (i % 2 === 0 ? 12 : 32))).toBe(true);
    expect(first.equals(firstCopy)).toBe(true);
    // Not a constant or a counter: about half the bits of the draws are set.
    const ones = draws.reduce(
      (sum, bytes) =>
        sum + [...bytes].reduce((bits, byte) => bits + byte.toString(2).replaceAll('0', '').length, 0),
      0,
    );
    const bits = draws.reduce((sum, bytes) => sum + bytes.length * 8, 0);
    expect(ones / bits).toBeGreaterThan(0.48);
    expect(ones / bits).toBeLessThan(0.52);
  });

  it('refuses a draw larger than the pool instead of handing out fewer bytes', () => {
    expect(pooledRandomBytes(16 * 1024)).toHaveLength(16 * 1024);
    expect(() => pooledRandomBytes(16 * 1024 + 1)).toThrow(RangeError);
  });
});
