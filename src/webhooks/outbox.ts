import type { Executor } from '../audit/record-audit-event';
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

/** The same for many events (a batch erasure): one insert. */
export async function enqueueWebhookEvents(tx: Executor, inputs: WebhookEventInput[]): Promise<string[]> {
  if (inputs.length === 0) return [];
  const events = inputs.map(parseWebhookEvent);
  const rows = await tx
    .insert(webhookEvents)
    .values(
      events.map((event) => ({
        type: event.type,
        merchantId: event.merchantId ?? null,
        recipientId: event.recipientId ?? null,
        data: event.data,
      })),
    )
    .returning({ id: webhookEvents.id });
  return rows.map((row) => row.id);
}
