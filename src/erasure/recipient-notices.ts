import type { Executor } from '../audit/record-audit-event';
import type { Policies } from '../policies/load-policies';
import type { WebhookEventType } from '../policies/webhooks-policy';
import type { RecipientKeys } from '../pseudonymization/pseudonyms';
import { enqueueWebhookEvents } from '../webhooks/outbox';
import type { WebhookEventInput } from '../webhooks/webhook-payload';

/** Per-recipient pseudonym keys (src/pseudonymization): recipients only ever see their own pseudonyms. */
export type PseudonymsOf = (recipientId: string) => RecipientKeys;

function listeningMerchant(policies: Policies, type: WebhookEventType, merchantId: string): boolean {
  return policies.webhookSubscriptions.some(
    (subscription) =>
      subscription.events.includes(type) &&
      !subscription.recipientId &&
      (subscription.merchantId === undefined || subscription.merchantId === merchantId),
  );
}

function listeningRecipients(policies: Policies, type: WebhookEventType): string[] {
  return policies.recipients
    .filter((recipient) =>
      policies.webhookSubscriptions.some(
        (subscription) => subscription.recipientId === recipient.id && subscription.events.includes(type),
      ),
    )
    .map((recipient) => recipient.id);
}

/**
 * Art. 19: merchants and recipients subscribed to `return.erased` hear of each erased return at once,
 * through the outbox in the erasure's transaction (the feed's tombstones stay the durable record).
 * One insert for the whole batch.
 */
export async function announceErasedReturns(
  tx: Executor,
  policies: Policies,
  pseudonymsOf: PseudonymsOf,
  erased: { id: string; merchantId: string }[],
): Promise<void> {
  const recipients = listeningRecipients(policies, 'return.erased').map((recipientId) => ({
    recipientId,
    keys: pseudonymsOf(recipientId),
  }));
  const events: WebhookEventInput[] = [];
  for (const row of erased) {
    if (listeningMerchant(policies, 'return.erased', row.merchantId)) {
      events.push({ type: 'return.erased', merchantId: row.merchantId, data: { returnId: row.id } });
    }
    for (const { recipientId, keys } of recipients) {
      events.push({
        type: 'return.erased',
        recipientId,
        data: { returnId: keys.pseudonym('return', row.id) },
      });
    }
  }
  await enqueueWebhookEvents(tx, events);
}

/** A webhook payload holds at most this many ids in one list (webhook-payload.ts). */
const idsPerNotice = 100;

function inChunks<T>(items: T[]): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += idsPerNotice) {
    chunks.push(items.slice(start, start + idsPerNotice));
  }
  return chunks;
}

/**
 * Art. 19: the returns of a rectified subject are announced so their receivers re-read them (the feed
 * serves them again as well). A merchant gets the ids of its own returns, a recipient their pseudonyms:
 * never the internal subject id, which no receiver knows and which would link one person across
 * merchants; grouped in one notice only for a recipient allowed the `subject` field.
 */
export async function announceRectification(
  tx: Executor,
  policies: Policies,
  pseudonymsOf: PseudonymsOf,
  rectified: { id: string; merchantId: string }[],
): Promise<void> {
  const events: WebhookEventInput[] = [];
  for (const merchantId of new Set(rectified.map((row) => row.merchantId))) {
    if (!listeningMerchant(policies, 'subject.rectified', merchantId)) continue;
    const ids = rectified.filter((row) => row.merchantId === merchantId).map((row) => row.id);
    for (const returnIds of inChunks(ids)) {
      events.push({ type: 'subject.rectified', merchantId, data: { returnIds } });
    }
  }
  for (const recipientId of listeningRecipients(policies, 'subject.rectified')) {
    const keys = pseudonymsOf(recipientId);
    const pseudonyms = rectified.map((row) => keys.pseudonym('return', row.id));
    // A recipient whose fields leave out `subject` must not learn which returns are one person's: a
    // notice per return. One that receives `subject` links them anyway.
    const linksReturns = policies.recipients.some(
      (recipient) => recipient.id === recipientId && recipient.fields.includes('subject'),
    );
    const notices = linksReturns ? inChunks(pseudonyms) : pseudonyms.map((pseudonym) => [pseudonym]);
    for (const returnIds of notices) {
      events.push({ type: 'subject.rectified', recipientId, data: { returnIds } });
    }
  }
  await enqueueWebhookEvents(tx, events);
}
