import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { VersionedKey } from '../config/keyring-format';
import { insertPrepared, type PreparedBulkInsert } from '../db/bulk-insert';
import type { Database } from '../db/database';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import type { BatchRequest } from './seed-batch';
import type { SeedWorkerData, SeedWorkerReply } from './seed-worker';

/*
 * Synthetic returns for demos and benchmarks (seed-batch.ts builds them through the real encryption),
 * built in worker threads and sent by the main thread, one transaction per batch.
 */

export interface SeedDependencies {
  db: Database;
  masterKeys: readonly VersionedKey[];
  blindIndexKeys: readonly VersionedKey[];
  rules: ReturnRulesPolicy;
}

export interface SeedOptions {
  count: number;
  batchSize?: number;
  /** Worker threads that build and encrypt batches; the main thread only sends them. */
  workers?: number;
  merchants?: number;
  onProgress?: (done: number) => void;
}

/** A worker thread building batches, one request at a time. */
class SeedWorker {
  readonly #worker: Worker;

  constructor(data: SeedWorkerData) {
    this.#worker = import.meta.url.endsWith('.ts')
      ? // From sources (tsx, vitest): the worker registers tsx for require, then requires the module.
        new Worker(
          `require(${JSON.stringify(createRequire(import.meta.url).resolve('tsx/cjs/api'))}).register();
          require(${JSON.stringify(fileURLToPath(new URL('./seed-worker.ts', import.meta.url)))});`,
          { eval: true, workerData: data },
        )
      : // From the bundle (dist/returnvault.mjs): its sibling dist/seed-worker.mjs.
        new Worker(new URL('./seed-worker.mjs', import.meta.url), { workerData: data });
  }

  /** The batch, built in the worker; rejects if the worker fails or exits first. */
  build(request: BatchRequest): Promise<PreparedBulkInsert[]> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => settle(() => reject(error));
      const onExit = (code: number) => settle(() => reject(new Error(`seed worker exited (${code})`)));
      const onMessage = (reply: SeedWorkerReply) =>
        settle(() =>
          'error' in reply ? reject(new Error(`seed worker: ${reply.error}`)) : resolve(reply.prepared),
        );
      const settle = (outcome: () => void) => {
        this.#worker.off('error', onError).off('exit', onExit).off('message', onMessage);
        outcome();
      };
      this.#worker.on('error', onError).on('exit', onExit).on('message', onMessage);
      this.#worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** Seeds `count` returns in batches; resolves with what was written. */
export async function seedReturns(
  deps: SeedDependencies,
  options: SeedOptions,
): Promise<{ returns: number; ms: number }> {
  const settings = {
    count: options.count,
    batchSize: options.batchSize ?? 1000,
    workers: Math.max(1, options.workers ?? availableParallelism()),
    merchants: options.merchants ?? 20,
  };
  const run = randomBytes(4).toString('hex');
  const started = Date.now();
  let done = 0;
  let next = 0;
  let failed = false;
  const nextRequest = (): BatchRequest | undefined => {
    if (failed || next >= settings.count) return undefined;
    const start = next;
    next = Math.min(settings.count, start + settings.batchSize);
    return { run, start, size: next - start, merchants: settings.merchants };
  };
  // Each worker builds its next batch while the main thread sends the one it just built. A failure
  // stops every lane from taking another batch; what was committed stays (each batch is whole).
  const lane = async (worker: SeedWorker) => {
    let request = nextRequest();
    let building = request && worker.build(request);
    try {
      while (request && building) {
        const prepared = await building;
        const sent = request;
        request = nextRequest();
        building = request && worker.build(request);
        await deps.db.$client.begin(async (tx) => {
          for (const insert of prepared) await insertPrepared(tx, insert);
        });
        done += sent.size;
        options.onProgress?.(done);
      }
    } catch (error) {
      failed = true;
      await building?.catch(() => undefined); // the batch under way is dropped, not left unhandled
      throw error;
    }
  };
  const workerData: SeedWorkerData = {
    masterKeys: deps.masterKeys,
    blindIndexKeys: deps.blindIndexKeys,
    rules: deps.rules,
  };
  const workers: SeedWorker[] = [];
  try {
    for (let i = 0; i < settings.workers; i += 1) workers.push(new SeedWorker(workerData));
    const lanes = await Promise.allSettled(workers.map(lane));
    const failure = lanes.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
  }
  await recordAuditEvent(
    deps.db,
    {},
    {
      actor: 'cli:seed',
      action: 'returns.seed',
      outcome: 'success',
      targetType: 'return',
      details: { count: settings.count, run },
    },
  );
  return { returns: settings.count, ms: Date.now() - started };
}
