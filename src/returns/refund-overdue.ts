import { sql } from 'drizzle-orm';
import type { Database } from '../db/database';
import { enqueueWebhookEvent } from '../webhooks/outbox';

/**
 * Announces, once each, the returns whose refund due date has passed without a refund: a
 * `return.refund_overdue` outbox event in the same transaction as the notice row. Rows locked by
 * another instance are skipped, so several instances can run it at once. Answers how many it announced.
 */
export async function announceOverdueRefunds(db: Database, now: Date, limit = 500): Promise<number> {
  return db.transaction(async (tx) => {
    const due = await tx.execute<{ id: string; merchant_id: string; refund_due_at: Date }>(sql`
      select r.id, r.merchant_id, r.refund_due_at from returns r
      where r.refund_due_at < ${now.toISOString()}::timestamptz and r.refunded_at is null
        and r.erased_at is null and r.status not in ('refunded', 'rejected', 'cancelled')
        and not exists (select 1 from refund_overdue_notices n where n.return_id = r.id)
      order by r.refund_due_at
      limit ${limit}
      for update of r skip locked`);
    let announced = 0;
    for (const row of due) {
      const inserted = await tx.execute(sql`
        insert into refund_overdue_notices (return_id) values (${row.id}) on conflict do nothing returning return_id`);
      if (inserted.length === 0) continue;
      await enqueueWebhookEvent(tx, {
        type: 'return.refund_overdue',
        merchantId: row.merchant_id,
        data: { returnId: row.id, refundDueAt: new Date(row.refund_due_at).toISOString() },
      });
      announced += 1;
    }
    return announced;
  });
}

export interface RefundOverdueWatcher {
  stop(): void;
}

/** Checks every `intervalMs` for refunds that became overdue; every instance may run it. */
export function startRefundOverdueWatcher(
  db: Database,
  log: { error(object: unknown, message: string): void },
  intervalMs = 60_000,
): RefundOverdueWatcher {
  const timer = setInterval(() => {
    announceOverdueRefunds(db, new Date()).catch((error) =>
      log.error({ code: (error as { code?: unknown }).code }, 'refund-overdue check failed; retrying later'),
    );
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
