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

/** Art. 19: a rectified subject is announced so recipients re-read its returns from the feed. */
export async function announceRectification(
  tx: Executor,
  policies: Policies,
  pseudonymsOf: PseudonymsOf,
  subjectId: string,
  merchantIds: string[],
): Promise<void> {
  const events: WebhookEventInput[] = [...new Set(merchantIds)]
    .filter((merchantId) => listeningMerchant(policies, 'subject.rectified', merchantId))
    .map((merchantId) => ({ type: 'subject.rectified', merchantId, data: { subject: subjectId } }));
  for (const recipientId of listeningRecipients(policies, 'subject.rectified')) {
    events.push({
      type: 'subject.rectified',
      recipientId,
      data: { subject: pseudonymsOf(recipientId).pseudonym('subject', subjectId) },
    });
  }
  await enqueueWebhookEvents(tx, events);
}
