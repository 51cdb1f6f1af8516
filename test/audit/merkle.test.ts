import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  appendToFrontier,
  consistencyProofRanges,
  emptyRootHash,
  foldPerfectHashes,
  inclusionProofRanges,
  type LeafRange,
  leafHash,
  perfectNodesOf,
  rangeProofRanges,
  rootFromLeafHashes,
  rootFromRangeProof,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle';

// The 8-leaf reference tree of the Certificate Transparency and Trillian test suites (RFC 9162 layout).
const leaves = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((hex) => leafHash(Buffer.from(hex, 'hex')));

const roots = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const inclusionVectors = [
  { position: 0, treeSize: 1, path: [] },
  {
    position: 0,
    treeSize: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    position: 5,
    treeSize: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { position: 2, treeSize: 3, path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    position: 1,
    treeSize: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const consistencyVectors = [
  { oldSize: 1, newSize: 1, path: [] },
  {
    oldSize: 1,
    newSize: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    oldSize: 6,
    newSize: 8,
    path: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    oldSize: 2,
    newSize: 5,
    path: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

/** The proof hashes for ranges, computed directly from the leaves (the store does it from stored nodes). */
const hashesOf = (all: Buffer[], ranges: LeafRange[]) =>
  ranges.map((range) => rootFromLeafHashes(all, range.start, range.end));
const hex = (hashes: Buffer[]) => hashes.map((hash) => hash.toString('hex'));
const root = (all: Buffer[], size: number) => rootFromLeafHashes(all, 0, size);

describe('RFC 9162 Merkle tree: reference vectors', () => {
  it('hashes the empty tree and the 8-leaf reference tree at every size', () => {
    expect(emptyRootHash.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    roots.forEach((expected, index) => {
      expect(root(leaves, index + 1).toString('hex')).toBe(expected);
    });
  });

  it('builds the same roots incrementally from the compact frontier', () => {
    let frontier = appendToFrontier([], 0, []).frontier;
    leaves.forEach((leaf, position) => {
      frontier = appendToFrontier(frontier, position, [leaf]).frontier;
      expect(foldPerfectHashes(frontier.map((node) => node.hash)).toString('hex')).toBe(roots[position]);
    });
  });

  it.each(inclusionVectors)(
    'produces and verifies the inclusion path of leaf $position in a tree of $treeSize',
    (vector) => {
      const path = hashesOf(leaves, inclusionProofRanges(vector.position, vector.treeSize));
      expect(hex(path)).toEqual(vector.path);
      const expectedRoot = Buffer.from(roots[vector.treeSize - 1] as string, 'hex');
      expect(
        verifyInclusion(
          vector.position,
          vector.treeSize,
          leaves[vector.position] as Buffer,
          path,
          expectedRoot,
        ),
      ).toBe(true);
    },
  );

  it.each(consistencyVectors)(
    'produces and verifies the consistency proof from $oldSize to $newSize',
    (vector) => {
      const path = hashesOf(leaves, consistencyProofRanges(vector.oldSize, vector.newSize));
      expect(hex(path)).toEqual(vector.path);
      expect(
        verifyConsistency(
          vector.oldSize,
          vector.newSize,
          root(leaves, vector.oldSize),
          root(leaves, vector.newSize),
          path,
        ),
      ).toBe(true);
    },
  );

  it('rejects wrong leaves, wrong sizes and truncated paths', () => {
    const path = hashesOf(leaves, inclusionProofRanges(5, 8));
    const eight = root(leaves, 8);
    expect(verifyInclusion(5, 8, leaves[4] as Buffer, path, eight)).toBe(false);
    expect(verifyInclusion(4, 8, leaves[5] as Buffer, path, eight)).toBe(false);
    expect(verifyInclusion(5, 9, leaves[5] as Buffer, path, eight)).toBe(false);
    expect(verifyInclusion(5, 8, leaves[5] as Buffer, path.slice(1), eight)).toBe(false);
    expect(verifyInclusion(8, 8, leaves[5] as Buffer, path, eight)).toBe(false);
    const consistency = hashesOf(leaves, consistencyProofRanges(6, 8));
    expect(verifyConsistency(6, 8, root(leaves, 5), eight, consistency)).toBe(false);
    expect(verifyConsistency(6, 8, root(leaves, 6), root(leaves, 7), consistency)).toBe(false);
    expect(verifyConsistency(6, 8, root(leaves, 6), eight, [])).toBe(false);
  });

  it('splits a node into the complete subtrees the store keeps', () => {
    expect(perfectNodesOf({ start: 0, end: 7 })).toEqual([
      { level: 2, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    expect(perfectNodesOf({ start: 8, end: 16 })).toEqual([{ level: 3, index: 1 }]);
  });
});

const leafSet = fc
  .array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 70 })
  .map((raw) => raw.map(leafHash));

describe('RFC 9162 Merkle tree: properties', () => {
  it('verifies every inclusion proof at every tree size, and no proof for another leaf', () => {
    fc.assert(
      fc.property(leafSet, fc.nat(), fc.nat(), (all, a, b) => {
        const treeSize = (a % all.length) + 1;
        const position = b % treeSize;
        const path = hashesOf(all, inclusionProofRanges(position, treeSize));
        expect(verifyInclusion(position, treeSize, all[position] as Buffer, path, root(all, treeSize))).toBe(
          true,
        );
        const other = leafHash(Buffer.from('not in the tree'));
        expect(verifyInclusion(position, treeSize, other, path, root(all, treeSize))).toBe(false);
      }),
    );
  });

  it('verifies every consistency proof, and fails it once an old leaf changed', () => {
    fc.assert(
      fc.property(leafSet, fc.nat(), fc.nat(), fc.nat(), (all, a, b, c) => {
        const newSize = (a % all.length) + 1;
        const oldSize = (b % newSize) + 1;
        const path = hashesOf(all, consistencyProofRanges(oldSize, newSize));
        expect(verifyConsistency(oldSize, newSize, root(all, oldSize), root(all, newSize), path)).toBe(true);
        const edited = [...all];
        edited[c % oldSize] = leafHash(Buffer.from('rewritten history'));
        expect(verifyConsistency(oldSize, newSize, root(edited, oldSize), root(all, newSize), path)).toBe(
          false,
        );
      }),
    );
  });

  it('rebuilds the root from any contiguous range and its proof, and from nothing else', () => {
    fc.assert(
      fc.property(leafSet, fc.nat(), fc.nat(), fc.nat(), (all, a, b, c) => {
        const treeSize = (a % all.length) + 1;
        const start = b % treeSize;
        const end = start + 1 + (c % (treeSize - start));
        const range = { start, end };
        const proof = hashesOf(all, rangeProofRanges(range, treeSize));
        const slice = all.slice(start, end);
        expect(rootFromRangeProof(range, treeSize, slice, proof)?.equals(root(all, treeSize))).toBe(true);
        expect(proof.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(treeSize + 1)));
        if (slice.length > 1) {
          const swapped = [slice[1] as Buffer, slice[0] as Buffer, ...slice.slice(2)];
          if (!swapped[0]?.equals(slice[0] as Buffer)) {
            expect(rootFromRangeProof(range, treeSize, swapped, proof)?.equals(root(all, treeSize))).toBe(
              false,
            );
          }
        }
        expect(rootFromRangeProof(range, treeSize, slice.slice(1), proof)).toBeUndefined();
      }),
    );
  });

  it('keeps the frontier root equal to the tree root whatever the batch sizes', () => {
    fc.assert(
      fc.property(leafSet, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), (all, batches) => {
        let frontier = appendToFrontier([], 0, []).frontier;
        let size = 0;
        for (const batch of batches) {
          if (size >= all.length) break;
          const next = all.slice(size, size + batch);
          ({ frontier } = appendToFrontier(frontier, size, next));
          size += next.length;
          expect(foldPerfectHashes(frontier.map((node) => node.hash)).equals(root(all, size))).toBe(true);
        }
      }),
    );
  });
});
