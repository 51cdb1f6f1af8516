import { sql as drizzleSql } from 'drizzle-orm';
import { type AuditContext, recordAuditEvent } from '../audit/record-audit-event';
import type { DatabaseHandle, Sql } from '../db/database';
import type { WebhookSubscription } from '../policies/webhooks-policy';
import type { DeliveryStatus } from './webhook-outbox.schema';

// The shared client hands timestamps to drizzle as raw text, so raw queries format them themselves.
const isoTime = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Turns new outbox events into one delivery per matching subscription and marks them fanned out, in
 * one statement. Matching: an event addressed to a recipient goes only to that recipient's
 * subscriptions; a merchant's event to that merchant's subscriptions and to catch-alls (neither
 * merchant nor recipient); always only to subscriptions that list its type. Returns how many events
 * it took (a full batch means there may be more).
 */
export async function fanOutEvents(
  sql: Sql,
  subscriptions: readonly WebhookSubscription[],
  batchSize = 500,
): Promise<number> {
  const subs = subscriptions.map((s) => ({
    id: s.id,
    merchant_id: s.merchantId ?? null,
    recipient_id: s.recipientId ?? null,
    events: s.events,
  }));
  const [row] = await sql<{ taken: number }[]>`
    with picked as (
      select id, type, merchant_id, recipient_id from webhook_events
      where fanned_out_at is null order by created_at limit ${batchSize}
      for update skip locked
    ), marked as (
      update webhook_events e set fanned_out_at = now() from picked where e.id = picked.id
    ), subs as (
      select * from jsonb_to_recordset(${JSON.stringify(subs)}::text::jsonb)
        as s(id text, merchant_id text, recipient_id text, events text[])
    ), created as (
      insert into webhook_deliveries (event_id, subscription_id)
      select p.id, s.id from picked p join subs s on p.type = any(s.events) and (
        case when p.recipient_id is not null then s.recipient_id = p.recipient_id
             else s.recipient_id is null and (s.merchant_id is null or s.merchant_id = p.merchant_id) end)
      on conflict (event_id, subscription_id) do nothing
    )
    select count(*)::int as taken from picked`;
  return row!.taken;
}

export interface ClaimedDelivery {
  id: string;
  subscriptionId: string;
  attempts: number;
  leaseId: string;
  eventId: string;
  type: string;
  /** ISO 8601, UTC, milliseconds: the payload timestamp, identical on every attempt. */
  createdAt: string;
  data: Record<string, unknown>;
}

/**
 * Claims due deliveries, at most `limit` per subscription, and leases them: `next_attempt_at` moves
 * past the request timeout, so a dispatcher that dies mid-request leaves them to be sent again.
 */
export async function claimDueDeliveries(
  sql: Sql,
  capacities: { subscriptionId: string; limit: number; leaseMs: number }[],
): Promise<ClaimedDelivery[]> {
  if (capacities.length === 0) return [];
  return sql<ClaimedDelivery[]>`
    with due as (
      select picked.id, s."leaseMs" as lease_ms
      from jsonb_to_recordset(${JSON.stringify(capacities)}::text::jsonb)
        as s("subscriptionId" text, "limit" int, "leaseMs" int)
      cross join lateral (
        select d.id from webhook_deliveries d
        where d.subscription_id = s."subscriptionId" and d.status = 'pending' and d.next_attempt_at <= now()
        order by d.next_attempt_at limit s."limit"
        for update skip locked
      ) picked
    )
    update webhook_deliveries d
    set next_attempt_at = now() + make_interval(secs => due.lease_ms / 1000.0), lease_id = gen_random_uuid()
    from due, webhook_events e
    where d.id = due.id and e.id = d.event_id
    returning d.id, d.subscription_id as "subscriptionId", d.attempts, d.lease_id as "leaseId",
              e.id as "eventId", e.type, ${sql.unsafe(isoTime('e.created_at'))} as "createdAt", e.data`;
}

/** Gives back claims that were never sent (graceful stop), so the next leader need not wait out the lease. */
export async function releaseClaims(
  sql: Sql,
  claims: Pick<ClaimedDelivery, 'id' | 'leaseId'>[],
): Promise<void> {
  if (claims.length === 0) return;
  await sql`
    update webhook_deliveries set lease_id = null, next_attempt_at = now()
    from jsonb_to_recordset(${JSON.stringify(claims.map((c) => ({ id: c.id, lease_id: c.leaseId })))}::text::jsonb)
      as released(id uuid, lease_id uuid)
    where webhook_deliveries.id = released.id and webhook_deliveries.lease_id = released.lease_id`;
}

export interface AttemptRecord {
  deliveryId: string;
  leaseId: string;
  /** 1-based number of this attempt in the current round. */
  attempt: number;
  startedAt: Date;
  durationMs: number;
  delivered: boolean;
  statusCode?: number;
  errorClass?: string;
  /** Where the delivery goes next: delivered, dead (gave up), or pending again after `retryDelayMs`. */
  status: DeliveryStatus;
  retryDelayMs: number;
}

/**
 * Records finished attempts in one statement (the dispatcher batches them): each attempt row, and its
 * delivery moved on. A delivery whose lease was taken over meanwhile keeps its new state.
 */
export async function recordAttempts(sql: Sql, records: AttemptRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((r) => ({
    id: r.deliveryId,
    lease_id: r.leaseId,
    attempt: r.attempt,
    started_at: r.startedAt.toISOString(),
    duration_ms: r.durationMs,
    outcome: r.delivered ? 'delivered' : 'failed',
    status_code: r.statusCode ?? null,
    error_class: r.errorClass ?? null,
    status: r.status,
    retry_ms: r.retryDelayMs,
  }));
  await sql`
    with results as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r(
        id uuid, lease_id uuid, attempt int, started_at timestamptz, duration_ms int, outcome text,
        status_code int, error_class text, status text, retry_ms int)
    ), logged as (
      insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class)
      select id, attempt, started_at, duration_ms, outcome, status_code, error_class from results
    )
    update webhook_deliveries d set
      attempts = r.attempt,
      status = r.status,
      last_status_code = r.status_code,
      last_error_class = r.error_class,
      lease_id = null,
      next_attempt_at = now() + make_interval(secs => r.retry_ms / 1000.0),
      delivered_at = case when r.status = 'delivered' then now() end,
      dead_at = case when r.status = 'dead' then now() end
    from results r
    where d.id = r.id and d.lease_id = r.lease_id`;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  subscriptionId: string;
  merchantId: string | null;
  recipientId: string | null;
  status: DeliveryStatus;
  attempts: number;
  replays: number;
  nextAttemptAt: string | null;
  createdAt: string;
  deliveredAt: string | null;
  deadAt: string | null;
  attemptLog: {
    attempt: number;
    startedAt: string;
    durationMs: number;
    outcome: 'delivered' | 'failed';
    statusCode: number | null;
    errorClass: string | null;
  }[];
}

/** Deliveries, newest first, each with every attempt; a merchant-limited caller sees only its own. */
export async function listDeliveries(
  sql: Sql,
  filter: { status?: DeliveryStatus; limit: number; merchantId?: string; id?: string },
): Promise<DeliveryView[]> {
  const rows = await sql<DeliveryView[]>`
    select d.id, d.event_id as "eventId", e.type as "eventType", d.subscription_id as "subscriptionId",
           e.merchant_id as "merchantId", e.recipient_id as "recipientId", d.status, d.attempts, d.replays,
           case when d.status = 'pending' then ${sql.unsafe(isoTime('d.next_attempt_at'))} end as "nextAttemptAt",
           ${sql.unsafe(isoTime('d.created_at'))} as "createdAt", ${sql.unsafe(isoTime('d.delivered_at'))} as "deliveredAt",
           ${sql.unsafe(isoTime('d.dead_at'))} as "deadAt",
           coalesce((
             select json_agg(json_build_object(
               'attempt', a.attempt, 'startedAt', ${sql.unsafe(isoTime('a.started_at'))}, 'durationMs', a.duration_ms, 'outcome', a.outcome,
               'statusCode', a.status_code, 'errorClass', a.error_class) order by a.id)
             from webhook_attempts a where a.delivery_id = d.id), '[]'::json) as "attemptLog"
    from webhook_deliveries d join webhook_events e on e.id = d.event_id
    where true
      ${filter.status ? sql`and d.status = ${filter.status}` : sql``}
      ${filter.merchantId ? sql`and e.merchant_id = ${filter.merchantId}` : sql``}
      ${filter.id ? sql`and d.id = ${filter.id}` : sql``}
    order by d.created_at desc, d.id desc
    limit ${filter.limit}`;
  return rows;
}

export type ReplayOutcome =
  | { replayed: true; delivery: DeliveryView }
  | { replayed: false; reason: 'not_found' | 'not_dead' };

/**
 * Puts a dead letter back in the queue for a new round of attempts, records who did it in the audit
 * log in the same transaction, and wakes the dispatcher. A merchant-limited caller reaches only its own.
 */
export async function replayDelivery(
  database: Pick<DatabaseHandle, 'sql' | 'db'>,
  id: string,
  context: AuditContext & { merchantId?: string; actor?: string },
): Promise<ReplayOutcome> {
  const [existing] = await listDeliveries(database.sql, { id, merchantId: context.merchantId, limit: 1 });
  if (!existing) return { replayed: false, reason: 'not_found' };
  const replayed = await database.db.transaction(async (tx) => {
    const rows = await tx.execute(drizzleSql`
      update webhook_deliveries
      set status = 'pending', attempts = 0, replays = replays + 1, next_attempt_at = now(), dead_at = null,
          lease_id = null
      where id = ${id} and status = 'dead'
      returning id`);
    if (rows.length === 0) return false;
    await recordAuditEvent(tx, context, {
      actor: context.actor,
      action: 'webhook.replay',
      outcome: 'success',
      targetType: 'webhook_delivery',
      targetId: id,
      details: {
        subscriptionId: existing.subscriptionId,
        eventId: existing.eventId,
        eventType: existing.eventType,
      },
    });
    return true;
  });
  if (!replayed) return { replayed: false, reason: 'not_dead' };
  const [delivery] = await listDeliveries(database.sql, { id, merchantId: context.merchantId, limit: 1 });
  return { replayed: true, delivery: delivery! };
}
