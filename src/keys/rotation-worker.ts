import type { FastifyBaseLogger } from 'fastify';
import type { MasterKeyring } from '../crypto/master-keyring';
import type { DatabaseHandle } from '../db/database';
import { errorCodeOf } from '../db/database-errors';
import { runRotationJob } from './key-rotation';

/**
 * Runs the re-wrap in the background of a server: kicked by POST /v1/keys/rotate and when the
 * background jobs start (src/server/background-jobs.ts: at boot, or once pending migrations are
 * applied), to resume a job a killed instance left running. Requests never wait for it; close waits
 * for the batch in flight and leaves the rest to the next start. Transient database errors are retried
 * inside the run; what still fails stops it until the next start or POST.
 */
export class RotationWorker {
  readonly #abort = new AbortController();
  #current: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly keyring: MasterKeyring,
    private readonly log: FastifyBaseLogger,
  ) {}

  kick(): void {
    if (this.#abort.signal.aborted) return;
    if (this.#current) {
      this.#again = true;
      return;
    }
    this.#current = this.#loop().finally(() => {
      this.#current = undefined;
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#current;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        const result = await runRotationJob(this.database, this.keyring, { signal: this.#abort.signal });
        if (result.outcome === 'busy') this.log.info('key rotation: another instance runs the re-wrap');
        else if (result.outcome === 'target_unavailable') {
          this.log.warn(
            { jobId: result.job.id, targetVersion: result.job.targetVersion },
            'key rotation: MASTER_KEYS on this instance lacks the target version; an instance that holds it runs the re-wrap',
          );
        } else if (result.outcome === 'source_unavailable') {
          this.log.warn(
            { jobId: result.job.id, targetVersion: result.job.targetVersion, kekVersion: result.kekVersion },
            `key rotation: data keys are wrapped by master key ${result.kekVersion}, which MASTER_KEYS on this instance lacks; the job stays running for an instance that holds it (never remove ${result.kekVersion} while data keys use it)`,
          );
        } else if ('job' in result) {
          const { id, targetVersion, rewrapped, unreadable, error } = result.job;
          this.log.info(
            { jobId: id, targetVersion, rewrapped, unreadable, error },
            `key rotation ${result.outcome}`,
          );
        }
      } catch (error) {
        // The code only: a failed query's message quotes its parameters, here wrapped data keys.
        this.log.error(
          { code: errorCodeOf(error) },
          'key rotation stopped by an error; it resumes on the next start',
        );
      }
    } while (this.#again && !this.#abort.signal.aborted);
  }
}
