import type { NewReturnRow } from '../../src/returns/returns.schema';
import type { TestApp } from '../support/test-app';
import { bearer } from '../support/test-app';

const dayMs = 86_400_000;

/** A valid return request with distinctive personal values, so scans can look for them. */
export function returnRequest(overrides: Record<string, unknown> = {}, tag = 'a1') {
  return {
    merchantId: 'm-100',
    orderRef: `ORD-${tag}`,
    deliveredAt: new Date(Date.now() - 3 * dayMs).toISOString(),
    customer: {
      name: `Zoé Vauquelin-${tag}`,
      email: `zoe.vauquelin.${tag}@example.org`,
      phone: '+33612345678',
      address: {
        line1: `17 rue des Quatre-Vents ${tag}`,
        line2: `Bâtiment Héliotrope ${tag}`,
        postalCode: '75006',
        city: `Paris-Secret-${tag}`,
        country: 'FR',
      },
    },
    items: [
      {
        sku: 'SKU-1',
        quantity: 1,
        unitPriceCents: 4999,
        reason: 'wrong_size',
        comment: `Trop petit pour ${tag}`,
      },
      { sku: 'SKU-2', quantity: 2, unitPriceCents: 1500, reason: 'changed_mind' },
    ],
    parcel: { weightGrams: 800, lengthMm: 300, widthMm: 200, heightMm: 100 },
    method: 'mailbox',
    refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
    ...overrides,
  };
}

export async function createReturnVia(t: TestApp, body: Record<string, unknown>, merchantId?: string) {
  const token = await t.token('support', merchantId ? { merchantId } : {});
  return t.app.inject({ method: 'POST', url: '/v1/returns', headers: bearer(token), payload: body });
}

export function daysAgo(days: number): string {
  return new Date(Date.now() - days * dayMs).toISOString();
}

/** A return row with no personal field, for writes below the route (repository, triggers). */
export function plainReturnRow(id: string, subjectId: string, orderRef: string): NewReturnRow {
  return {
    id,
    merchantId: 'm-100',
    orderRef,
    subjectId,
    method: 'post_office',
    refundMethod: 'original_payment',
    deliveredAt: new Date('2026-11-20T10:00:00Z'),
    notifiedAt: new Date('2026-11-21T10:00:00Z'),
    withdrawalDeadline: '2026-12-04',
    returnDeadline: '2026-12-21',
    items: [],
    totalCents: 0,
    postalArea: '75',
    country: 'FR',
  };
}
