import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '../audit/record-audit-event';
import { arrayParam } from '../db/array-param';
import { webhookEvents } from './webhook-outbox.schema';
import { parseWebhookEvent, type WebhookEventInput } from './webhook-payload';

/**
 * Writes one outbox event in the caller's transaction: it exists exactly when the change it announces
 * is committed. The dispatcher's poll finds it and fans it out to the matching subscriptions (no NOTIFY:
 * see DispatcherOptions.pollIntervalMs). Returns the event id, which
 * is the `webhook-id` every receiver sees. Throws WebhookPayloadError for a payload that is not just
 * ids, statuses and clocks (recipients' data must already be pseudonymized by the caller).
 */
export async function enqueueWebhookEvent(tx: Executor, input: WebhookEventInput): Promise<string> {
  const [id] = await enqueueWebhookEvents(tx, [input]);
  return id!;
}

/**
 * The same for many events (a batch erasure): one insert, with one array parameter per column so
 * that its text, prepared once per connection, is the same for any number of events.
 */
export async function enqueueWebhookEvents(tx: Executor, inputs: WebhookEventInput[]): Promise<string[]> {
  if (inputs.length === 0) return [];
  const events = inputs.map(parseWebhookEvent);
  const text = (value: (event: (typeof events)[number]) => string | null) =>
    arrayParam(events.map(value), 'text');
  const rows = (await tx.execute(sql`
    insert into ${webhookEvents} (type, merchant_id, recipient_id, data)
    select type, merchant_id, recipient_id, data::jsonb
    from unnest(
      ${text((event) => event.type)},
      ${text((event) => event.merchantId ?? null)},
      ${text((event) => event.recipientId ?? null)},
      ${text((event) => JSON.stringify(event.data))}
    ) with ordinality as event(type, merchant_id, recipient_id, data, position)
    order by position
    returning id`)) as unknown as { id: string }[];
  return rows.map((row) => row.id);
}

/**
 * An INSERT of the outbox event of placeholder values `webhookEventValues` gives, once per row that
 * `from` (a FROM ... WHERE fragment) selects, for use as a data-modifying CTE: the event then exists
 * exactly when the rows it announces were written by the same statement.
 */
export function webhookEventPerRow(from: SQL): SQL {
  return sql`insert into ${webhookEvents} (type, merchant_id, recipient_id, data)
    select ${sql.placeholder('webhookType')}::text, ${sql.placeholder('webhookMerchantId')}::text,
      ${sql.placeholder('webhookRecipientId')}::text, ${sql.placeholder('webhookData')}::jsonb
    ${from}`;
}

/** The placeholder values of `webhookEventPerRow`, checked as every outbox event is. */
export function webhookEventValues(input: WebhookEventInput): Record<string, unknown> {
  const event = parseWebhookEvent(input);
  return {
    webhookType: event.type,
    webhookMerchantId: event.merchantId ?? null,
    webhookRecipientId: event.recipientId ?? null,
    webhookData: JSON.stringify(event.data),
  };
}
