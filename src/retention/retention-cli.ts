import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveAppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import { AppError } from '../http/app-error';
import { loadPolicies } from '../policies/load-policies';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { publishSigningKey } from '../signing/published-keys';
import { createSigner } from '../signing/signing-key';
import { futureAsOfProblem, parseAsOf } from './as-of-date';
import {
  defaultBatchSize,
  defaultLanes,
  type RetentionProgress,
  type RunSummary,
  runRetention,
} from './retention-engine';

function batchSizeOption(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 10_000) {
    throw new InvalidArgumentError('expected an integer from 1 to 10000');
  }
  return parsed;
}

/** At most 4: the command's pool has 4 connections, one per lane at most. */
function lanesOption(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 4) {
    throw new InvalidArgumentError('expected an integer from 1 to 4');
  }
  return parsed;
}

function asOfOption(value: string): Date {
  try {
    return parseAsOf(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** A bar per rule on a terminal; one line per batch otherwise, so logs and pipes see progress too. */
function progressReporter(): { onProgress: (progress: RetentionProgress) => void; stop(): void } {
  if (!process.stderr.isTTY) {
    return {
      onProgress: (p) =>
        process.stderr.write(
          `progress ${p.ruleId} ${p.ruleHandled}/${p.ruleDue}: +${p.batch.done} done, +${p.batch.skippedHeld} held, +${p.batch.failed} failed\n`,
        ),
      stop: () => {},
    };
  }
  const bar = new SingleBar({
    format: '{rule} [{bar}] {value}/{total} | {eta_formatted} left',
    stream: process.stderr,
    hideCursor: true,
  });
  let currentRule: string | undefined;
  return {
    onProgress: (p) => {
      if (p.ruleId !== currentRule) {
        if (currentRule) bar.stop();
        currentRule = p.ruleId;
        bar.start(Math.max(p.ruleDue, p.ruleHandled), 0, {
          rule: `${p.ruleIndex + 1}/${p.ruleCount} ${p.ruleId}`,
        });
      }
      bar.setTotal(Math.max(p.ruleDue, p.ruleHandled));
      bar.update(p.ruleHandled);
    },
    stop: () => {
      if (currentRule) bar.stop();
    },
  };
}

function printSummary(summary: RunSummary): void {
  const head = summary.dryRun ? 'dry run (nothing changed)' : `run ${summary.runId} ${summary.status}`;
  const lines = [
    `retention ${head} as of ${summary.asOf.toISOString()}, policy ${summary.policyVersion}${summary.resumed ? `, resumed (attempt ${summary.attempts})` : ''}`,
    ['rule', 'status', 'done', 'held', 'failed'].join('\t'),
    ...summary.rules.map((rule) =>
      [rule.ruleId, rule.status, rule.done, rule.skippedHeld, rule.failed, rule.note ?? '']
        .join('\t')
        .trimEnd(),
    ),
    `totals\t\t${summary.totals.done}\t${summary.totals.skippedHeld}\t${summary.totals.failed}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `returnvault retention run [--dry-run] [--as-of ISO-DATE] [--batch-size N] [--lanes N]`. */
export function registerRetentionCommands(program: Command): void {
  const retention = program
    .command('retention')
    .description('retention schedules from policies/retention.yaml');
  retention
    .command('run')
    .description('apply the retention rules now (once across instances; resumes a killed run)')
    .option('--dry-run', 'count what would be done, change nothing')
    .option('--as-of <date>', 'run as of this ISO date or date-time instead of now', asOfOption)
    .option('--batch-size <n>', `rows per transaction (default ${defaultBatchSize})`, batchSizeOption)
    .option(
      '--lanes <n>',
      `key ranges swept at once, up to 4 (default ${defaultLanes}); all but one wait while other work runs in the database`,
      lanesOption,
    )
    .action(async (options: { dryRun?: boolean; asOf?: Date; batchSize?: number; lanes?: number }) => {
      const problem = futureAsOfProblem(options.asOf, options.dryRun);
      if (problem) throw new Error(`--as-of: ${problem}`);
      const config = resolveAppConfig();
      const policies = loadPolicies(config.policiesDir);
      const database = await connectDatabase(config, { maxConnections: 4 });
      const progress = progressReporter();
      try {
        const signer = await createSigner(config.signingKeyPem);
        // A deferred erasure this run completes is certified with this key: it must verify through the
        // service's JWKS. A dry run changes nothing, that key's publication included.
        if (!options.dryRun) await publishSigningKey(database.db, signer);
        const summary = await runRetention(
          { database, policies, pseudonymsOf: createPseudonymKeys(config.pseudonymSecret), signer },
          {
            asOf: options.asOf,
            dryRun: options.dryRun,
            batchSize: options.batchSize,
            lanes: options.lanes,
            trigger: 'cli',
            onProgress: progress.onProgress,
          },
        );
        progress.stop();
        printSummary(summary!);
        if (summary!.totals.failed > 0) process.exitCode = 1;
      } catch (error) {
        progress.stop();
        if (error instanceof AppError && error.code === 'retention_run_in_progress') {
          throw new Error('a retention run is in progress on another instance');
        }
        throw error;
      } finally {
        await database.close();
      }
    });
}
