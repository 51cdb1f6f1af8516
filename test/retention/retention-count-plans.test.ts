import { type SQL, sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import type { Executor } from '../../src/audit/record-audit-event';
import { targetFor } from '../../src/retention/retention-targets';
import { seedReturns } from '../../src/returns/seed-returns';
import { createTestApp } from '../support/test-app';

/*
 * A retention run counts each rule's due returns over the whole table. Inside an OR, an IN is a
 * subplan that PostgreSQL hashes only while it expects the rows to fit in work_mem, and otherwise scans
 * again for every row: quadratic over a million returns. The counts of the returns rules must run as
 * joins, whatever work_mem is.
 */
it('counts the due returns of every returns rule without a subplan, even with little work_mem', async () => {
  const t = await createTestApp();
  await seedReturns(
    {
      db: t.database.db,
      masterKeys: t.config.masterKeys,
      blindIndexKeys: t.config.blindIndexKeys,
      rules: t.policies.returnRules,
    },
    { count: 300 },
  );
  await t.database.sql`analyze`;
  const asOf = new Date(Date.now() + 3 * 365 * 86_400_000);
  const plans = new Map<string, string>();
  for (const rule of t.policies.retention.rules) {
    const target = targetFor(rule);
    if (target.kind !== 'applied' || target.rowType !== 'return') continue;
    await t.database.db.transaction(async (tx) => {
      await tx.execute(sql`set local work_mem = '64kB'`);
      const explaining = {
        execute: async (query: SQL) => {
          const rows = (await tx.execute(sql`explain ${query}`)) as unknown as Record<string, string>[];
          plans.set(rule.id, rows.map((row) => row['QUERY PLAN']).join('\n'));
          return [{ due: 0, keys: [] }];
        },
      } as unknown as Executor;
      await target.surveyDue(explaining, rule, asOf, 2);
    });
  }
  expect([...plans.keys()].sort()).toEqual([
    'accounting-delete',
    'contact-archive',
    'contact-erase',
    'payment-erase',
  ]);
  for (const [ruleId, plan] of plans) expect(plan, ruleId).not.toContain('SubPlan');
});
