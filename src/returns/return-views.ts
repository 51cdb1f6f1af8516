import { z } from 'zod';
import { dataStates } from '../policies/purposes-policy';
import type { LegalClocks } from './legal-clocks';
import type { ReturnPersonalData } from './return-personal-data';
import { eventTypes, returnStatuses } from './return-status';
import type { ReturnEventRow, ReturnRow } from './returns.schema';

/* Response shapes of the returns API, and the functions that build them from rows. */

const nullableString = z.string().nullable();

export const refundClockSchema = z.object({
  method: z.string(),
  dueAt: z.iso.datetime().nullable(),
  refundedAt: z.iso.datetime().nullable(),
  refundedCents: z.number().int().nullable(),
  daysLate: z.number().int(),
  surchargePercent: z.number(),
  legalInterest: z.boolean(),
});

const clockFields = {
  withdrawalDeadline: z.iso.date(),
  returnDeadline: z.iso.date(),
};

export const createdReturnSchema = z
  .object({
    id: z.uuid(),
    merchantId: z.string(),
    orderRef: z.string(),
    status: z.enum(returnStatuses),
    ...clockFields,
    refund: refundClockSchema,
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'CreatedReturn' });

export const returnEventViewSchema = z.object({
  id: z.uuid(),
  type: z.enum(eventTypes),
  origin: z.enum(['merchant', 'carrier']),
  carrierCode: nullableString,
  carrier: nullableString,
  occurredAt: z.iso.datetime(),
  receivedAt: z.iso.datetime(),
  amountCents: z.number().int().nullable(),
  reason: nullableString,
  location: nullableString,
  proof: nullableString,
});

export const returnViewSchema = z
  .object({
    id: z.uuid(),
    merchantId: z.string(),
    orderRef: z.string(),
    status: z.enum(returnStatuses),
    method: z.string(),
    dataState: z.enum(dataStates),
    deliveredAt: z.iso.datetime(),
    notifiedAt: z.iso.datetime(),
    withdrawalInfoGiven: z.boolean(),
    customer: z.object({
      name: nullableString,
      email: nullableString,
      phone: nullableString,
      address: z.object({
        line1: nullableString,
        line2: nullableString,
        postalCode: nullableString,
        city: nullableString,
        country: z.string(),
      }),
    }),
    items: z.array(
      z.object({
        sku: z.string(),
        quantity: z.number().int(),
        unitPriceCents: z.number().int(),
        reason: z.string(),
        comment: nullableString,
      }),
    ),
    totalCents: z.number().int(),
    parcel: z
      .object({ weightGrams: z.number(), lengthMm: z.number(), widthMm: z.number(), heightMm: z.number() })
      .nullable(),
    ...clockFields,
    refund: refundClockSchema.extend({ iban: nullableString }),
    events: z.array(returnEventViewSchema),
    /** Data categories the purpose does not cover: their fields are null. */
    withheldCategories: z.array(z.string()),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    restrictedAt: z.iso.datetime().nullable(),
    archivedAt: z.iso.datetime().nullable(),
    erasedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Return' });

export type ReturnView = z.infer<typeof returnViewSchema>;
export type ReturnEventView = z.infer<typeof returnEventViewSchema>;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** What the short view of a return needs from its row. */
export type ReturnSummaryRow = Pick<
  ReturnRow,
  'id' | 'merchantId' | 'orderRef' | 'status' | 'refundMethod' | 'refundedCents' | 'createdAt'
>;

export function refundView(row: ReturnSummaryRow, clocks: LegalClocks) {
  return {
    method: row.refundMethod,
    dueAt: iso(clocks.refund.dueAt),
    refundedAt: iso(clocks.refund.refundedAt),
    refundedCents: row.refundedCents,
    daysLate: clocks.refund.daysLate,
    surchargePercent: clocks.refund.surchargePercent,
    legalInterest: clocks.refund.legalInterest,
  };
}

export function createdReturnView(
  row: ReturnSummaryRow,
  clocks: LegalClocks,
): z.infer<typeof createdReturnSchema> {
  return {
    id: row.id,
    merchantId: row.merchantId,
    orderRef: row.orderRef,
    status: row.status as ReturnView['status'],
    withdrawalDeadline: clocks.withdrawalDeadline,
    returnDeadline: clocks.returnDeadline,
    refund: refundView(row, clocks),
    createdAt: row.createdAt.toISOString(),
  };
}

export function eventView(
  event: ReturnEventRow,
  details: { location: string | null; proof: string | null },
): ReturnEventView {
  return {
    id: event.id,
    type: event.type as ReturnEventView['type'],
    origin: event.origin,
    carrierCode: event.carrierCode,
    carrier: event.carrier,
    occurredAt: event.occurredAt.toISOString(),
    receivedAt: event.receivedAt.toISOString(),
    amountCents: event.amountCents,
    reason: event.reason,
    ...details,
  };
}

export function returnView(
  row: ReturnRow,
  personal: ReturnPersonalData,
  clocks: LegalClocks,
  events: ReturnEventView[],
  withheldCategories: string[],
): ReturnView {
  return {
    id: row.id,
    merchantId: row.merchantId,
    orderRef: row.orderRef,
    status: row.status as ReturnView['status'],
    method: row.method,
    dataState: row.dataState,
    deliveredAt: row.deliveredAt.toISOString(),
    notifiedAt: row.notifiedAt.toISOString(),
    withdrawalInfoGiven: row.withdrawalInfoGiven,
    customer: {
      name: personal.name,
      email: personal.email,
      phone: personal.phone,
      address: {
        line1: personal.line1,
        line2: personal.line2,
        postalCode: personal.postalCode,
        city: personal.city,
        country: row.country,
      },
    },
    items: row.items.map((item, index) => ({ ...item, comment: personal.itemComments?.[index] ?? null })),
    totalCents: row.totalCents,
    parcel: row.parcel,
    withdrawalDeadline: clocks.withdrawalDeadline,
    returnDeadline: clocks.returnDeadline,
    refund: { ...refundView(row, clocks), iban: personal.iban },
    events,
    withheldCategories,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    restrictedAt: iso(row.restrictedAt),
    archivedAt: iso(row.archivedAt),
    erasedAt: iso(row.erasedAt),
  };
}
