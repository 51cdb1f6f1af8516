/** Classes of data the erasure answer talks about (DOMAIN.md retention table). */
export type ErasureDataClass = 'contact' | 'payment' | 'accounting' | 'proof' | 'requests';

/** What an erasure made unrecoverable: ids and counts only, never a value. */
export interface ErasedData {
  dataClass: 'contact' | 'payment' | 'proof';
  /** Returns whose columns of this class were nulled by this erasure. */
  returns: number;
  /** No key of this class remains for the subject (crypto-shredding); false while some data is kept. */
  keyDestroyed: boolean;
  /** contact only: the keyed e-mail index went with the key; the e-mail no longer finds the subject. */
  emailIndexRemoved?: boolean;
}

/** What an erasure did not touch, why, on which legal basis and until when (Art. 17(3)). */
export interface KeptData {
  dataClass: ErasureDataClass;
  reason: 'legal_hold' | 'retention_running' | 'legal_obligation';
  legalBasis: string;
  /** ISO date until which it is kept at the latest; null while a hold has no end date. */
  until: string | null;
  /** Returns concerned, when the data belongs to returns. */
  returns?: number;
  /** What the kept data is, where a class name alone would not tell (accounting). */
  fields?: string[];
}

/**
 * What an erasure leaves of a return: the record of the sale and of its return, in clear and never
 * personal on its own (no name, contact, address line, IBAN, comment or tracking location).
 */
export const accountingFieldsKept = [
  'merchant id and order reference',
  'items: SKU, quantity, unit price, return reason code',
  'amounts, refund method, refund date and amount',
  'dates: delivery, notification, creation, legal deadlines',
  'status and tracking timeline: event types, times, carrier and carrier codes',
  'parcel size and weight, return method',
  'postal area (first characters of the postal code: a French département) and country',
];

export interface ErasureOutcome {
  erased: ErasedData[];
  kept: KeptData[];
}
