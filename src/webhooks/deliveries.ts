import type { Sql } from '../db/database';
import type { WebhookSubscription } from '../policies/webhooks-policy';
import { outboxChannel } from './outbox';
import type { DeliveryStatus } from './webhook-outbox.schema';

// The shared client hands timestamps to drizzle as raw text, so raw queries format them themselves.
const isoTime = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A recipient-addressed event goes only to that recipient; a merchant event to its merchant or to catch-alls. */
export function subscriptionMatches(
  subscription: WebhookSubscription,
  event: { type: string; merchantId: string | null; recipientId: string | null },
): boolean {
  if (!(subscription.events as readonly string[]).includes(event.type)) return false;
  if (event.recipientId !== null) return subscription.recipientId === event.recipientId;
  if (subscription.recipientId) return false;
  return subscription.merchantId === undefined || subscription.merchantId === event.merchantId;
}

/**
 * Turns new outbox events into one delivery per matching subscription and marks them fanned out, in
 * one transaction. Returns how many events it took (a full batch means there may be more).
 */
export async function fanOutEvents(
  sql: Sql,
  subscriptions: readonly WebhookSubscription[],
  batchSize = 500,
): Promise<number> {
  return sql.begin(async (tx) => {
    const events = await tx<
      { id: string; type: string; merchantId: string | null; recipientId: string | null }[]
    >`
      select id, type, merchant_id as "merchantId", recipient_id as "recipientId"
      from webhook_events where fanned_out_at is null
      order by created_at limit ${batchSize} for update skip locked`;
    if (events.length === 0) return 0;
    const eventIds: string[] = [];
    const subscriptionIds: string[] = [];
    for (const event of events) {
      for (const subscription of subscriptions) {
        if (!subscriptionMatches(subscription, event)) continue;
        eventIds.push(event.id);
        subscriptionIds.push(subscription.id);
      }
    }
    if (eventIds.length > 0) {
      await tx`
        insert into webhook_deliveries (event_id, subscription_id)
        select * from unnest(${eventIds}::uuid[], ${subscriptionIds}::text[])
        on conflict (event_id, subscription_id) do nothing`;
    }
    await tx`update webhook_events set fanned_out_at = now() where id = any(${events.map((e) => e.id)}::uuid[])`;
    return events.length;
  });
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
      select picked.id, s.lease_ms
      from unnest(${capacities.map((c) => c.subscriptionId)}::text[], ${capacities.map((c) => c.limit)}::int[],
                  ${capacities.map((c) => c.leaseMs)}::int[]) as s(subscription_id, lim, lease_ms)
      cross join lateral (
        select d.id from webhook_deliveries d
        where d.subscription_id = s.subscription_id and d.status = 'pending' and d.next_attempt_at <= now()
        order by d.next_attempt_at limit s.lim
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

export interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  delivered: boolean;
  statusCode?: number;
  errorClass?: string;
}

/**
 * Records one attempt and moves the delivery on: delivered, dead after `maxAttempts`, or pending
 * again after `retryDelayMs`. A delivery whose lease was taken over meanwhile keeps its new state.
 */
export async function recordAttempt(
  sql: Sql,
  claim: Pick<ClaimedDelivery, 'id' | 'attempts' | 'leaseId'>,
  result: AttemptResult,
  next: { maxAttempts: number; retryDelayMs: number },
): Promise<DeliveryStatus> {
  const attempt = claim.attempts + 1;
  const status: DeliveryStatus = result.delivered
    ? 'delivered'
    : attempt >= next.maxAttempts
      ? 'dead'
      : 'pending';
  await sql.begin(async (tx) => {
    await tx`
      insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class)
      values (${claim.id}, ${attempt}, ${result.startedAt.toISOString()}::timestamptz, ${result.durationMs},
              ${result.delivered ? 'delivered' : 'failed'}, ${result.statusCode ?? null}, ${result.errorClass ?? null})`;
    await tx`
      update webhook_deliveries set
        attempts = ${attempt},
        status = ${status},
        last_status_code = ${result.statusCode ?? null},
        last_error_class = ${result.errorClass ?? null},
        lease_id = null,
        next_attempt_at = now() + make_interval(secs => ${next.retryDelayMs / 1000}),
        delivered_at = ${status === 'delivered' ? sql`now()` : null},
        dead_at = ${status === 'dead' ? sql`now()` : null}
      where id = ${claim.id} and lease_id = ${claim.leaseId}`;
  });
  return status;
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

/** Puts a dead letter back in the queue for a new round of attempts and wakes the dispatcher. */
export async function replayDelivery(sql: Sql, id: string, merchantId?: string): Promise<ReplayOutcome> {
  const [existing] = await listDeliveries(sql, { id, merchantId, limit: 1 });
  if (!existing) return { replayed: false, reason: 'not_found' };
  const updated = await sql`
    update webhook_deliveries
    set status = 'pending', attempts = 0, replays = replays + 1, next_attempt_at = now(), dead_at = null,
        lease_id = null
    where id = ${id} and status = 'dead'
    returning id`;
  if (updated.length === 0) return { replayed: false, reason: 'not_dead' };
  await sql`select pg_notify(${outboxChannel}, '')`;
  const [delivery] = await listDeliveries(sql, { id, merchantId, limit: 1 });
  return { replayed: true, delivery: delivery! };
}
