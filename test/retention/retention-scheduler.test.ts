import { describe, expect, it } from 'vitest';
import { startRetentionScheduler } from '../../src/retention/retention-scheduler';
import { createTestApp } from '../support/test-app';
import { retentionDeps } from './retention-fixtures';

// A host far from Paris (Node applies a TZ set at run time): the schedule must not follow it.
process.env.TZ = 'America/New_York';

describe('retention scheduler', () => {
  it('runs on the cron expression, once per scheduled time across two instances, and stops', async () => {
    const t = await createTestApp();
    const lines: string[] = [];
    const log = { info: (...args: unknown[]) => lines.push(String(args.at(-1))), error: () => {} };
    const deps = retentionDeps(t);
    // Two instances on one database, firing every second.
    const schedulers = [
      startRetentionScheduler(deps, '* * * * * *', log),
      startRetentionScheduler(deps, '* * * * * *', log),
    ];
    try {
      for (let waited = 0; waited < 20_000; waited += 200) {
        const [row] = await t.database
          .sql`select count(*)::int as n from retention_runs where status = 'completed'`;
        if (row!.n >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
    }
    const runs = await t.database.sql`
      select trigger, scheduled_for, actor from retention_runs where status = 'completed' order by scheduled_for`;
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((run) => run.trigger === 'schedule' && run.actor === 'system:retention')).toBe(true);
    // One run per scheduled second, never two.
    const slots = runs.map((run) => String(run.scheduled_for));
    expect(new Set(slots).size).toBe(slots.length);
    expect(
      lines.some((line) =>
        /already ran on another instance|a run is in progress on another instance/.test(line),
      ),
    ).toBe(true);

    // Stopped: no new run starts.
    const [before] = await t.database.sql`select count(*)::int as n from retention_runs`;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [after] = await t.database.sql`select count(*)::int as n from retention_runs`;
    expect(after!.n).toBe(before!.n);
  });

  it('reads RETENTION_CRON on the Paris calendar, whatever the time zone of the host', async () => {
    expect(new Intl.DateTimeFormat().resolvedOptions().timeZone).toBe('America/New_York');
    const t = await createTestApp();
    const scheduler = startRetentionScheduler(retentionDeps(t), '0 3 * * *', { info() {}, error() {} });
    try {
      const next = scheduler.nextRunAt();
      expect(next).toBeInstanceOf(Date);
      const parisTime = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Paris',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(next!);
      expect(parisTime).toBe('03:00');
      // The next 03:00 in Paris, not one a day later (a day is 23 to 25 hours around a clock change).
      expect(next!.getTime() - Date.now()).toBeLessThanOrEqual(25 * 3_600_000);
    } finally {
      await scheduler.stop();
    }
  });
});
