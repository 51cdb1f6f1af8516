import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveAppConfig } from '../config/app-config';
import { MasterKeyring } from '../crypto/master-keyring';
import { connectDatabase } from '../db/connect';
import { pendingMigrationCount } from '../db/migrations';
import { defaultBatchSize, findRotationJob, runRotationJob, startRotation } from './key-rotation';
import type { KeyRotationJob } from './key-rotation-jobs.schema';

function batchSizeOption(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 10_000) {
    throw new InvalidArgumentError('expected an integer from 1 to 10000');
  }
  return parsed;
}

/** A bar on a terminal; one line per batch otherwise, so logs and pipes see progress too. */
function progressReporter(job: KeyRotationJob): { onProgress: (job: KeyRotationJob) => void; stop(): void } {
  if (!process.stderr.isTTY) {
    return {
      onProgress: (p) =>
        process.stderr.write(`progress ${p.rewrapped}/${p.total} data keys on ${p.targetVersion}\n`),
      stop: () => {},
    };
  }
  const bar = new SingleBar({
    format: `re-wrap to ${job.targetVersion} [{bar}] {value}/{total} | {eta_formatted} left`,
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(Math.max(job.total, job.rewrapped), job.rewrapped);
  return {
    onProgress: (p) => {
      bar.setTotal(Math.max(p.total, p.rewrapped));
      bar.update(p.rewrapped);
    },
    stop: () => bar.stop(),
  };
}

/** Where a job is: on stdout when it completed, as the command's failure otherwise. */
function reportEnd(job: KeyRotationJob): void {
  switch (job.status) {
    case 'completed':
      process.stdout.write(
        job.unreadable === 0
          ? `every data key is wrapped by ${job.targetVersion}\n`
          : `every data key is wrapped by ${job.targetVersion} except ${job.unreadable} that no configured master key unwraps (listed in the key.rewrap.batch audit events)\n`,
      );
      return;
    case 'running':
      throw new Error('another instance is running the key rotation; it will finish it');
    case 'failed':
      throw new Error(`key rotation to ${job.targetVersion} failed: ${job.error}`);
    case 'superseded':
      throw new Error(`key rotation to ${job.targetVersion} superseded: another rotation replaced it`);
  }
}

/**
 * `returnvault keys rotate`: starts (or resumes) the re-wrap of every data key to the active
 * MASTER_KEYS version and runs it to the end. Ctrl-C stops after the batch in flight; run it again
 * to resume.
 */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('master keys (MASTER_KEYS) and data-key re-wrapping');
  keys
    .command('rotate')
    .description(
      're-wrap every data key to the active (last) MASTER_KEYS version; resumes an interrupted run',
    )
    .option('--batch-size <n>', 'data keys per transaction', batchSizeOption, defaultBatchSize)
    .option(
      '--supersede',
      'replace a running rotation to a version MASTER_KEYS here lacks, which no instance holds any more (a rollback, a mistyped version)',
    )
    .action(async (options: { batchSize: number; supersede?: boolean }) => {
      const config = resolveAppConfig();
      const database = await connectDatabase(config, {
        maxConnections: 2,
        applicationName: 'returnvault-keys',
      });
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        if ((await pendingMigrationCount(database.sql)) > 0) {
          throw new Error('migrations are pending: run "returnvault migrate" first');
        }
        const keyring = new MasterKeyring(config.masterKeys);
        const job = await startRotation(
          database.db,
          keyring,
          { actor: 'cli' },
          { supersede: options.supersede },
        );
        const progress = progressReporter(job);
        const result = await runRotationJob(database, keyring, {
          batchSize: options.batchSize,
          signal: abort.signal,
          onProgress: progress.onProgress,
        }).finally(() => progress.stop());
        switch (result.outcome) {
          case 'busy':
          case 'idle':
            // Another instance runs or ended the job meanwhile: report where it truly is.
            reportEnd((await findRotationJob(database.db, job.id))!);
            return;
          case 'target_unavailable':
            throw new Error(
              `a key rotation to ${result.job.targetVersion}, which MASTER_KEYS here does not hold, replaced it; an instance configured with ${result.job.targetVersion} runs it`,
            );
          case 'source_unavailable':
            throw new Error(
              `data keys are still wrapped by master key ${result.kekVersion}, which MASTER_KEYS here does not hold: the rotation to ${result.job.targetVersion} stays running at ${result.job.rewrapped}/${result.job.total}; run it where MASTER_KEYS holds ${result.kekVersion}, and never remove ${result.kekVersion} while data keys use it`,
            );
          case 'stopped':
            process.stdout.write(
              `stopped at ${result.job.rewrapped}/${result.job.total}; run "returnvault keys rotate" again to resume\n`,
            );
            process.exitCode = 1;
            return;
          default:
            reportEnd(result.job);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await database.close();
      }
    });
}
