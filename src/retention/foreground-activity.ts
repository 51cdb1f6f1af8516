import { sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { retentionSessionName } from './retention-session';

/**
 * Whether anything but retention is at work in the database now: a session of this database, other
 * than retention's and this one, running a statement or inside a transaction. Every instance's
 * requests count, since they share the database. PostgreSQL shows the state of sessions of the same
 * role (or to pg_read_all_stats), which the service's connections all are.
 */
async function othersAtWork(db: Executor): Promise<boolean> {
  const rows = (await db.execute(sql`
    select 1 from pg_stat_activity
    where datname = current_database() and backend_type = 'client backend'
      and pid <> pg_backend_pid() and application_name <> ${retentionSessionName}
      and state in ('active', 'idle in transaction')
    limit 1`)) as unknown as unknown[];
  return rows.length > 0;
}

/**
 * Retention's extra lanes give the CPU back to requests: while any other work was seen in the last
 * `holdMs` they wait, and only the first lane sweeps. A sample is an instant, so one sighting keeps
 * the sweep narrow for a while; samples are taken at most every `sampleMs` whatever the lanes.
 */
export function createForegroundWatch(db: Executor, options: { holdMs?: number; sampleMs?: number } = {}) {
  const holdMs = options.holdMs ?? 2_000;
  const sampleMs = options.sampleMs ?? 200;
  let busyUntil = 0;
  let sampledAt = Number.NEGATIVE_INFINITY;
  let sampling: Promise<void> | undefined;

  const sample = async () => {
    const now = Date.now();
    if (now - sampledAt < sampleMs) return;
    sampledAt = now;
    if (await othersAtWork(db)) busyUntil = Date.now() + holdMs;
  };

  return {
    /** Waits until no other work was seen for `holdMs`, or until `goOn()` says not to wait. */
    async untilQuiet(goOn: () => boolean): Promise<void> {
      for (;;) {
        if (goOn()) return;
        sampling ??= sample().finally(() => {
          sampling = undefined;
        });
        await sampling;
        if (Date.now() >= busyUntil) return;
        await new Promise((resolve) => setTimeout(resolve, sampleMs));
      }
    },
  };
}

export type ForegroundWatch = ReturnType<typeof createForegroundWatch>;
