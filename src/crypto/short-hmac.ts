import { createHash, createHmac } from 'node:crypto';

/*
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) of short ASCII messages, bit for bit the digest of node:crypto's
 * createHmac (test/crypto/short-hmac.test.ts checks it on random keys and messages).
 *
 * Why: the feed computes one or two pseudonyms per item, encrypting a return derives a field key per
 * column (hkdf.ts), and each node:crypto call costs about 10 µs
 * (a new Hmac object, the key's two pad blocks hashed again, crossings into C++), far more than the
 * hashing itself. The pad blocks depend only on the key: their SHA-256 states (the HMAC midstates) are
 * computed once, and a message of at most 55 bytes (an id) then costs two compressions in JS, about
 * 2.5 µs. Longer or non-ASCII messages go through node:crypto.
 */

const roundConstants = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const initialState = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const blockBytes = 64;
/** A message this long or shorter fits one block with its 0x80 marker and 64-bit length. */
const maxShortBytes = blockBytes - 9;

// Scratch space, reused by every call: the computation is synchronous.
const schedule = new Int32Array(64);
const block = new Int32Array(16);
const innerDigest = new Int32Array(8);
const outerDigest = new Int32Array(8);

/** One SHA-256 compression of the 16 big-endian words of `words` from state `from` into `to`. */
function compress(from: Int32Array, words: Int32Array, to: Int32Array): void {
  const w = schedule;
  for (let i = 0; i < 16; i++) w[i] = words[i]!;
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15]!;
    const w2 = w[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = from[0]!;
  let b = from[1]!;
  let c = from[2]!;
  let d = from[3]!;
  let e = from[4]!;
  let f = from[5]!;
  let g = from[6]!;
  let h = from[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + roundConstants[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  to[0] = (from[0]! + a) | 0;
  to[1] = (from[1]! + b) | 0;
  to[2] = (from[2]! + c) | 0;
  to[3] = (from[3]! + d) | 0;
  to[4] = (from[4]! + e) | 0;
  to[5] = (from[5]! + f) | 0;
  to[6] = (from[6]! + g) | 0;
  to[7] = (from[7]! + h) | 0;
}

/** The SHA-256 state after the key's block XORed with `pad` (0x36 inner, 0x5c outer). */
function padState(key: Buffer, pad: number): Int32Array {
  const padded = Buffer.alloc(blockBytes, pad);
  for (let i = 0; i < key.length; i++) padded[i]! ^= key[i]!;
  const words = new Int32Array(16);
  for (let i = 0; i < 16; i++) words[i] = padded.readInt32BE(i * 4);
  const state = new Int32Array(8);
  compress(initialState, words, state);
  return state;
}

/** Loads `message` as one padded block after a 64-byte pad block; false when it does not fit. */
function loadShortMessage(message: string): boolean {
  const length = message.length;
  if (length > maxShortBytes) return false;
  block.fill(0);
  for (let i = 0; i < length; i++) {
    const code = message.charCodeAt(i);
    if (code > 0x7f) return false;
    block[i >> 2]! |= code << (24 - 8 * (i & 3));
  }
  block[length >> 2]! |= 0x80 << (24 - 8 * (length & 3));
  block[15] = (blockBytes + length) * 8;
  return true;
}

/**
 * HMAC-SHA256 under `key`: returns the 32-byte digest of a message (UTF-8), in a buffer from
 * `allocate` (a derived key takes memory of its own, not a slice of Node's shared small-buffer pool).
 */
export function createShortHmac(
  key: Buffer,
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): (message: string) => Buffer {
  // RFC 2104: a key longer than the block is hashed first; shorter keys are zero-padded by padState.
  const blockKey = key.length > blockBytes ? createHash('sha256').update(key).digest() : key;
  const inner = padState(blockKey, 0x36);
  const outer = padState(blockKey, 0x5c);
  return (message) => {
    if (!loadShortMessage(message)) return createHmac('sha256', key).update(message).digest();
    compress(inner, block, innerDigest);
    // The outer message is the 32-byte inner digest, padded for a total of 64 + 32 bytes.
    block.set(innerDigest, 0);
    block.fill(0, 8);
    block[8] = 0x80000000 | 0;
    block[15] = (blockBytes + 32) * 8;
    compress(outer, block, outerDigest);
    const digest = allocate(32);
    for (let i = 0; i < 8; i++) digest.writeInt32BE(outerDigest[i]!, i * 4);
    return digest;
  };
}
