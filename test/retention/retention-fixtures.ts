import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { createLegalHold, type NewLegalHold } from '../../src/legal-holds/manage-legal-holds';
import { addIsoDuration, parseIsoDuration } from '../../src/policies/iso-duration';
import { createPseudonymKeys } from '../../src/pseudonymization/pseudonyms';
import type { RetentionDependencies } from '../../src/retention/retention-engine';
import { bearer, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';

/** A valid French IBAN (the checksum is right); never a real account. */
export const testIban = 'FR1420041010050500013M02606';

export interface ReturnFixture {
  id: string;
  orderRef: string;
  email: string;
}

/** What the engine needs, as the server gives it (erased returns are announced to subscribers). */
export function retentionDeps(t: TestApp): RetentionDependencies {
  return {
    database: t.database,
    policies: t.policies,
    pseudonymsOf: createPseudonymKeys(t.config.pseudonymSecret),
    signer: t.app.signer,
  };
}

/** Creates a return through the API, the way a merchant does. */
export async function createReturn(
  t: TestApp,
  options: { email?: string; bankTransfer?: boolean; orderRef?: string; at?: Date } = {},
): Promise<ReturnFixture> {
  const now = (options.at ?? new Date()).getTime();
  const orderRef = options.orderRef ?? `ORD-${randomUUID().slice(0, 8)}`;
  const email = options.email ?? `client.${randomUUID().slice(0, 8)}@example.org`;
  const response = await t.app.inject({
    method: 'POST',
    url: '/v1/returns',
    headers: bearer(await t.token('merchant')),
    payload: {
      merchantId: 'merchant-1',
      orderRef,
      deliveredAt: new Date(now - 2 * 86_400_000).toISOString(),
      notifiedAt: new Date(now - 86_400_000).toISOString(),
      customer: {
        name: 'Jeanne Martin',
        email,
        phone: '+33612345678',
        address: { line1: '12 rue de Rivoli', postalCode: '75001', city: 'Paris', country: 'FR' },
      },
      items: [{ sku: 'SKU-1', quantity: 1, unitPriceCents: 2599, reason: 'too_small' }],
      method: 'post_office',
      refund:
        options.bankTransfer === false
          ? { method: 'original_payment' }
          : { method: 'bank_transfer', iban: testIban },
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return { id: response.json().id, orderRef, email };
}

export async function postEvent(
  t: TestApp,
  returnId: string,
  type: string,
  occurredAt: Date,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const response = await t.app.inject({
    method: 'POST',
    url: `/v1/returns/${returnId}/events`,
    headers: bearer(await t.token('merchant')),
    payload: { type, occurredAt: occurredAt.toISOString(), ...extra },
  });
  expect(response.statusCode, response.body).toBeLessThan(300);
}

/** Goods received, refunded (or rejected), then closed, in the minutes before `at` (now). */
export async function closeReturn(
  t: TestApp,
  returnId: string,
  outcome: 'refunded' | 'rejected' = 'refunded',
  at = new Date(),
) {
  const now = at.getTime();
  await postEvent(t, returnId, 'received', new Date(now - 3 * 60_000));
  const details = outcome === 'refunded' ? { amountCents: 2599 } : { reason: 'damaged_by_customer' };
  await postEvent(t, returnId, outcome, new Date(now - 2 * 60_000), details);
  await postEvent(t, returnId, 'closed', new Date(now - 60_000));
}

/** `now + duration + one day`: just past a retention period that starts about now. */
export function justAfter(iso: string, from = new Date()): Date {
  return new Date(addIsoDuration(from, parseIsoDuration(iso)!).getTime() + 86_400_000);
}

/** Places a legal hold the way the DPO's endpoint does. */
export async function placeHold(t: TestApp, target: Omit<NewLegalHold, 'reason'>): Promise<string> {
  const hold = await createLegalHold(
    t.database.db,
    { emailIndex: t.app.emailIndex, keyring: t.app.keyring },
    {},
    { reason: 'pending litigation', ...target },
  );
  return hold.id;
}

/**
 * Another session of the database inside a transaction (what retention's extra lanes yield to),
 * until `end()` rolls it back and gives its connection back; `end()` may be called again.
 */
export async function openOtherTransaction(database: TestDatabase): Promise<{ end(): Promise<void> }> {
  const other = await database.sql.reserve();
  await other`begin`;
  await other`select 1`;
  let ended = false;
  return {
    async end() {
      if (ended) return;
      ended = true;
      await other`rollback`;
      other.release();
    },
  };
}
