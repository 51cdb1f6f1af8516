import { createHash } from 'node:crypto';

/**
 * The RFC 9162 (Certificate Transparency v2) Merkle tree, as pure functions: hashing, proofs expressed
 * as the ranges whose hashes they carry, and the verifiers. Positions are plain numbers (exact up to
 * 2^53), so no bitwise operators: they would truncate to 32 bits.
 */

/** Positions [start, end) of the leaves under one node of the tree. */
export interface LeafRange {
  start: number;
  end: number;
}

/** A complete subtree: positions [index * 2^level, (index + 1) * 2^level). */
export interface PerfectNode {
  level: number;
  index: number;
}

export interface FrontierNode extends PerfectNode {
  hash: Buffer;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

const leafPrefix = Buffer.from([0x00]);
const nodePrefix = Buffer.from([0x01]);

/** MTH({}): the root of the empty tree. */
export const emptyRootHash = sha256();

export function leafHash(leaf: Uint8Array): Buffer {
  return sha256(leafPrefix, leaf);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(nodePrefix, left, right);
}

/** The largest power of two strictly smaller than n (n >= 2): where RFC 9162 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function largestPowerOfTwoAtMost(n: number): number {
  let k = 1;
  while (k * 2 <= n) k *= 2;
  return k;
}

/** MTH of a run of leaf hashes (RFC 9162 section 2.1.1). */
export function rootFromLeafHashes(leaves: readonly Buffer[], start = 0, end = leaves.length): Buffer {
  const n = end - start;
  if (n === 0) return emptyRootHash;
  if (n === 1) return leaves[start] as Buffer;
  const k = splitPoint(n);
  return nodeHash(rootFromLeafHashes(leaves, start, start + k), rootFromLeafHashes(leaves, start + k, end));
}

/**
 * The complete subtrees, largest first, whose hashes make up the node over `range`. Every node of an
 * RFC 9162 tree starts at a multiple of the power of two above its size, so the greedy split is exact.
 */
export function perfectNodesOf(range: LeafRange): PerfectNode[] {
  const nodes: PerfectNode[] = [];
  let start = range.start;
  while (start < range.end) {
    const size = largestPowerOfTwoAtMost(range.end - start);
    nodes.push({ level: Math.log2(size), index: start / size });
    start += size;
  }
  return nodes;
}

/** Folds the complete subtrees of a node (largest first) into its hash, right to left. */
export function foldPerfectHashes(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return emptyRootHash;
  let hash = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i--) hash = nodeHash(hashes[i] as Buffer, hash);
  return hash;
}

/**
 * Appends leaves to the compact frontier (the complete subtrees of the current tree, largest first)
 * and returns the new frontier with the inner nodes that became complete, for storage.
 */
export function appendToFrontier(
  frontier: readonly FrontierNode[],
  firstPosition: number,
  leafHashes: readonly Buffer[],
): { frontier: FrontierNode[]; completed: FrontierNode[] } {
  const next = [...frontier];
  const completed: FrontierNode[] = [];
  leafHashes.forEach((hash, offset) => {
    next.push({ level: 0, index: firstPosition + offset, hash });
    while (next.length >= 2 && next[next.length - 1]?.level === next[next.length - 2]?.level) {
      const right = next.pop() as FrontierNode;
      const left = next.pop() as FrontierNode;
      const parent = { level: left.level + 1, index: left.index / 2, hash: nodeHash(left.hash, right.hash) };
      completed.push(parent);
      next.push(parent);
    }
  });
  return { frontier: next, completed };
}

/** PATH(m, D[n]) of RFC 9162 section 2.1.3.1, as ranges, deepest sibling first. */
export function inclusionProofRanges(position: number, treeSize: number): LeafRange[] {
  if (!(position >= 0 && position < treeSize)) throw new RangeError('position outside the tree');
  const ranges: LeafRange[] = [];
  const path = (start: number, end: number) => {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (position < start + k) {
      path(start, start + k);
      ranges.push({ start: start + k, end });
    } else {
      path(start + k, end);
      ranges.push({ start, end: start + k });
    }
  };
  path(0, treeSize);
  return ranges;
}

/** PROOF(m, D[n]) of RFC 9162 section 2.1.4.1, as ranges; empty when m is 0 or m = n. */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  if (!(oldSize >= 0 && oldSize <= newSize)) throw new RangeError('old tree larger than the new one');
  const ranges: LeafRange[] = [];
  if (oldSize === 0) return ranges;
  const subproof = (m: number, start: number, end: number, complete: boolean) => {
    const n = end - start;
    if (m === n) {
      if (!complete) ranges.push({ start, end });
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      subproof(m, start, start + k, complete);
      ranges.push({ start: start + k, end });
    } else {
      subproof(m - k, start + k, end, false);
      ranges.push({ start, end: start + k });
    }
  };
  subproof(oldSize, 0, newSize, true);
  return ranges;
}

/**
 * The nodes outside positions [start, end) needed to rebuild the root of a tree of `treeSize` from the
 * leaves of the range: a multi-leaf inclusion proof, O(log n) hashes for any contiguous range.
 */
export function rangeProofRanges(range: LeafRange, treeSize: number): LeafRange[] {
  assertRange(range, treeSize);
  const ranges: LeafRange[] = [];
  const walk = (start: number, end: number) => {
    if (start >= range.start && end <= range.end) return;
    if (end <= range.start || start >= range.end) {
      ranges.push({ start, end });
      return;
    }
    const k = splitPoint(end - start);
    walk(start, start + k);
    walk(start + k, end);
  };
  walk(0, treeSize);
  return ranges;
}

function assertRange(range: LeafRange, treeSize: number) {
  if (!(range.start >= 0 && range.start < range.end && range.end <= treeSize)) {
    throw new RangeError('range outside the tree');
  }
}

/** Rebuilds the root from the leaf hashes of positions [start, end) and their range proof; undefined if the proof is the wrong length. */
export function rootFromRangeProof(
  range: LeafRange,
  treeSize: number,
  rangeLeafHashes: readonly Buffer[],
  proof: readonly Buffer[],
): Buffer | undefined {
  assertRange(range, treeSize);
  if (rangeLeafHashes.length !== range.end - range.start) return undefined;
  let next = 0;
  const walk = (start: number, end: number): Buffer | undefined => {
    if (start >= range.start && end <= range.end) {
      return rootFromLeafHashes(rangeLeafHashes, start - range.start, end - range.start);
    }
    if (end <= range.start || start >= range.end) return proof[next++];
    const k = splitPoint(end - start);
    const left = walk(start, start + k);
    const right = walk(start + k, end);
    return left && right ? nodeHash(left, right) : undefined;
  };
  const root = walk(0, treeSize);
  return next === proof.length ? root : undefined;
}

const isOdd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/** RFC 9162 section 2.1.3.2. */
export function verifyInclusion(
  position: number,
  treeSize: number,
  leaf: Buffer,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!(position >= 0 && position < treeSize)) return false;
  let fn = position;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 section 2.1.4.2, plus the trivial cases (an empty old tree, equal sizes). */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Buffer,
  newRoot: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!(oldSize >= 0 && oldSize <= newSize)) return false;
  if (oldSize === 0) return proof.length === 0 && oldRoot.equals(emptyRootHash);
  if (oldSize === newSize) return proof.length === 0 && oldRoot.equals(newRoot);
  if (proof.length === 0) return false;
  const path = largestPowerOfTwoAtMost(oldSize) === oldSize ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Buffer;
  let sr = path[0] as Buffer;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return fr.equals(oldRoot) && sr.equals(newRoot) && sn === 0;
}
