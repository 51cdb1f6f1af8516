import { parentPort, workerData } from 'node:worker_threads';
import type { VersionedKey } from '../config/keyring-format';
import { EmailBlindIndex } from '../crypto/blind-index';
import { MasterKeyring } from '../crypto/master-keyring';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { type BatchRequest, prepareSeedBatch } from './seed-batch';

/** What a seed worker is started with (seed-returns.ts). */
export interface SeedWorkerData {
  masterKeys: readonly VersionedKey[];
  blindIndexKeys: readonly VersionedKey[];
  rules: ReturnRulesPolicy;
}

/** What a seed worker answers to each BatchRequest. */
export type SeedWorkerReply = { prepared: ReturnType<typeof prepareSeedBatch> } | { error: string };

// Keys arrive as Uint8Arrays (structured clone drops the Buffer class); the crypto code wants Buffers.
const asBuffers = (keys: readonly VersionedKey[]) =>
  keys.map(({ version, key }) => ({ version, key: Buffer.from(key.buffer, key.byteOffset, key.byteLength) }));

const data = workerData as SeedWorkerData;
const deps = {
  keyring: new MasterKeyring(asBuffers(data.masterKeys)),
  emailIndex: new EmailBlindIndex(asBuffers(data.blindIndexKeys)),
  rules: data.rules,
};

parentPort?.on('message', (request: BatchRequest) => {
  let reply: SeedWorkerReply;
  try {
    reply = { prepared: prepareSeedBatch(deps, request) };
  } catch (error) {
    reply = { error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
