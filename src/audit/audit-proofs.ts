import { AppError } from '../http/app-error';
import { type Checkpoint, latestCheckpoint, type Queryable, rangeHashes } from './audit-log-store';
import { consistencyProofRanges, emptyRootHash, inclusionProofRanges } from './merkle';

/** Proofs served from the stored complete subtrees: O(log n) hashes fetched in one query each. */

export async function requireLatestCheckpoint(sql: Queryable): Promise<Checkpoint> {
  const checkpoint = await latestCheckpoint(sql);
  if (!checkpoint) throw new AppError('audit_not_sequenced', 'No audit checkpoint has been signed yet.');
  return checkpoint;
}

/** A tree size the stored tree covers: the latest signed one when none is asked for. */
async function resolveTreeSize(sql: Queryable, treeSize: number | undefined): Promise<number> {
  const latest = await requireLatestCheckpoint(sql);
  if (treeSize === undefined) return latest.treeSize;
  if (treeSize > latest.treeSize) {
    throw new AppError(
      'audit_not_sequenced',
      `Tree size ${treeSize} is beyond the latest signed checkpoint (${latest.treeSize}).`,
    );
  }
  return treeSize;
}

async function rootHashAt(sql: Queryable, treeSize: number): Promise<Buffer> {
  if (treeSize === 0) return emptyRootHash;
  const [root] = await rangeHashes(sql, [{ start: 0, end: treeSize }]);
  return root as Buffer;
}

const hex = (hashes: Buffer[]) => hashes.map((hash) => hash.toString('hex'));

export async function inclusionProof(sql: Queryable, position: number, requestedSize?: number) {
  const treeSize = await resolveTreeSize(sql, requestedSize);
  if (position >= treeSize) {
    throw new AppError('audit_not_sequenced', `Position ${position} is not in a tree of size ${treeSize}.`);
  }
  const [leaf] = await rangeHashes(sql, [{ start: position, end: position + 1 }]);
  return {
    position,
    treeSize,
    leafHash: (leaf as Buffer).toString('hex'),
    rootHash: (await rootHashAt(sql, treeSize)).toString('hex'),
    proof: hex(await rangeHashes(sql, inclusionProofRanges(position, treeSize))),
  };
}

export async function consistencyProof(sql: Queryable, fromTreeSize: number, requestedSize?: number) {
  const toTreeSize = await resolveTreeSize(sql, requestedSize);
  if (fromTreeSize > toTreeSize) {
    throw new AppError('validation_failed', `from (${fromTreeSize}) must not exceed to (${toTreeSize}).`, {
      errors: [{ path: 'query.from', message: 'larger than the newer tree size' }],
    });
  }
  return {
    fromTreeSize,
    toTreeSize,
    fromRootHash: (await rootHashAt(sql, fromTreeSize)).toString('hex'),
    toRootHash: (await rootHashAt(sql, toTreeSize)).toString('hex'),
    proof: hex(await rangeHashes(sql, consistencyProofRanges(fromTreeSize, toTreeSize))),
  };
}
