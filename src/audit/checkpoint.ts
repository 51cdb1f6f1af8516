import type { Signer } from '../signing/signing-key';
import type { Checkpoint } from './audit-log-store';

/** Names what a checkpoint JWS is, so it cannot pass for another document the same key signs. */
export const checkpointType = 'returnvault-audit-checkpoint+jws';
export const logName = 'returnvault-audit';

/** What a checkpoint JWS signs. */
export interface CheckpointPayload {
  log: string;
  treeSize: number;
  /** Hex of the RFC 9162 root hash of positions [0, treeSize). */
  rootHash: string;
  signedAt: string;
}

export async function signCheckpoint(
  signer: Signer,
  treeSize: number,
  rootHash: Buffer,
): Promise<Checkpoint> {
  const payload: CheckpointPayload = {
    log: logName,
    treeSize,
    rootHash: rootHash.toString('hex'),
    signedAt: new Date().toISOString(),
  };
  return { ...payload, keyId: signer.kid, jws: await signer.sign(payload, checkpointType) };
}
