import type { FastifyBaseLogger } from 'fastify';
import { type ScheduledTask, schedule } from 'node-cron';
import { AppError } from '../http/app-error';
import { legalTimeZone } from '../returns/calendar-date';
import { type RetentionDependencies, type RunSummary, runRetention } from './retention-engine';

export type ScheduledOutcome =
  | { outcome: 'ran'; summary: RunSummary }
  | { outcome: 'in_progress' }
  | { outcome: 'already_ran' }
  | { outcome: 'failed'; code: string };

/**
 * One firing of the schedule. Every instance fires; the advisory lock lets one run, and the unique
 * (job, scheduled_for) run row stops an instance whose clock fired after the first one finished.
 */
export async function runScheduledRetention(
  deps: RetentionDependencies,
  scheduledFor: Date,
  log: Pick<FastifyBaseLogger, 'info' | 'error'>,
  signal?: AbortSignal,
): Promise<ScheduledOutcome> {
  // Instances fire within the same second; the second is the identity of the scheduled time.
  const slot = new Date(Math.floor(scheduledFor.getTime() / 1000) * 1000);
  try {
    const summary = await runRetention(deps, { trigger: 'schedule', scheduledFor: slot, signal });
    if (!summary) {
      log.info(`retention for ${slot.toISOString()} already ran on another instance`);
      return { outcome: 'already_ran' };
    }
    log.info(
      { runId: summary.runId, totals: summary.totals, durationMs: summary.durationMs },
      `retention run for ${slot.toISOString()} ${summary.status}`,
    );
    return { outcome: 'ran', summary };
  } catch (error) {
    if (error instanceof AppError && error.code === 'retention_run_in_progress') {
      log.info(`retention for ${slot.toISOString()}: a run is in progress on another instance`);
      return { outcome: 'in_progress' };
    }
    if (signal?.aborted) {
      log.info('retention run stopped by the shutdown; the next run resumes it');
      return { outcome: 'failed', code: 'aborted' };
    }
    const code = (error as { code?: unknown })?.code;
    log.error({ code, name: (error as Error)?.name }, 'retention run failed; the next run resumes it');
    return { outcome: 'failed', code: typeof code === 'string' ? code : 'unknown' };
  }
}

export interface RetentionScheduler {
  /** When the schedule fires next. */
  nextRunAt(): Date | null;
  /** Stops the schedule and the run in progress between two batches (it stays resumable). */
  stop(): Promise<void>;
}

/**
 * RETENTION_CRON is read on the service's legal calendar, not the host's TZ: every instance then
 * fires at the same instants, and the run row unique per scheduled time keeps it to one run.
 */
export const retentionTimeZone = legalTimeZone;

/** Schedules retention on `cronExpression` (RETENTION_CRON, validated by the config schema). */
export function startRetentionScheduler(
  deps: RetentionDependencies,
  cronExpression: string,
  log: Pick<FastifyBaseLogger, 'info' | 'error'>,
): RetentionScheduler {
  const controller = new AbortController();
  let current: Promise<unknown> = Promise.resolve();
  const task: ScheduledTask = schedule(
    cronExpression,
    (context) => {
      current = runScheduledRetention(deps, context.date, log, controller.signal);
      return current;
    },
    { name: 'retention', noOverlap: true, timezone: retentionTimeZone },
  );
  return {
    nextRunAt: () => task.getNextRun(),
    stop: async () => {
      await task.stop();
      controller.abort();
      await current;
      await task.destroy();
    },
  };
}
