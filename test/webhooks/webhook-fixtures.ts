import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database';
import { type WebhookSubscription, webhooksPolicySchema } from '../../src/policies/webhooks-policy';
import {
  createWebhookDispatcher,
  type DispatcherOptions,
  type WebhookDispatcher,
} from '../../src/webhooks/dispatcher';
import { enqueueWebhookEvent } from '../../src/webhooks/outbox';

export const quietLog = process.env.DEBUG_WEBHOOKS
  ? { info: console.log, warn: console.log, error: (o: unknown, m: string) => console.log(m, o) }
  : { info: () => {}, warn: () => {}, error: () => {} };

export function subscriptions(list: unknown[]): WebhookSubscription[] {
  return webhooksPolicySchema.parse({ subscriptions: list }).subscriptions;
}

/** A `whsec_` secret as a receiver would configure it, and its key bytes for the dispatcher. */
export function newSecret(): { secret: string; key: Buffer } {
  const key = randomBytes(32);
  return { secret: `whsec_${key.toString('base64')}`, key };
}

/** Dispatchers started by a test, killed after it so a failing test leaves none running. */
const running = new Set<WebhookDispatcher>();
afterEach(async () => {
  await Promise.all([...running].map((dispatcher) => dispatcher.kill()));
  running.clear();
});

export async function startDispatcher(
  database: DatabaseHandle,
  options: Omit<DispatcherOptions, 'database' | 'log' | 'rules'> & Partial<Pick<DispatcherOptions, 'rules'>>,
): Promise<WebhookDispatcher> {
  const dispatcher = createWebhookDispatcher({
    database,
    log: quietLog,
    rules: { allowLoopback: true, allowPrivateNetworks: false },
    pollIntervalMs: 50,
    leaderCheckIntervalMs: 100,
    backoff: { baseMs: 50, maxMs: 200 },
    leaseMarginMs: 200,
    ...options,
  });
  running.add(dispatcher);
  await dispatcher.start();
  return dispatcher;
}

/** Commits `count` return.created events for a merchant, one transaction each, as the returns code would. */
export async function enqueueReturns(
  database: DatabaseHandle,
  merchantId: string,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(
      await database.db.transaction((tx) =>
        enqueueWebhookEvent(tx, {
          type: 'return.created',
          merchantId,
          data: {
            returnId: `ret-${merchantId}-${i}`,
            status: 'created',
            createdAt: new Date().toISOString(),
          },
        }),
      ),
    );
  }
  return ids;
}
