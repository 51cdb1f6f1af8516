import type { EventType } from './return-status';

export interface CarrierEventMapping {
  type: EventType;
  /** A stable code that says why, for failures and anomalies; never personal data. */
  reason?: string;
  /** False for a code this service does not know: it is kept as an anomaly, never dropped. */
  known: boolean;
}

/**
 * Colissimo (internal) and La Poste tracking v2 codes (DOMAIN.md). For a return the sender is the
 * customer, so "delivered back to sender" and "returned to sender" mean the merchant did not get the
 * goods: they are anomalies for a person to look at, not receptions.
 */
const exactCodes: Record<string, Omit<CarrierEventMapping, 'known'>> = {
  EMLCFM: { type: 'pickup_scheduled' },
  ECHCFM: { type: 'dispatched', reason: 'collected_from_letterbox' },
  ENEMQT: { type: 'pickup_failed', reason: 'parcel_absent' },
  ENEDAF: { type: 'pickup_failed', reason: 'letterbox_not_accessible' },
  ENEAVA: { type: 'pickup_failed', reason: 'bad_packaging' },
  ENENCF: { type: 'pickup_failed', reason: 'no_label' },
  ENEDOC: { type: 'pickup_failed', reason: 'wrong_label' },
  PC1: { type: 'dispatched', reason: 'taken_in_charge' },
  ET1: { type: 'in_transit' },
  ET2: { type: 'in_transit' },
  ET3: { type: 'in_transit' },
  ET4: { type: 'in_transit' },
  DI1: { type: 'received', reason: 'delivered_to_merchant' },
  DI2: { type: 'anomaly', reason: 'delivered_back_to_sender' },
  RE1: { type: 'anomaly', reason: 'returned_to_sender' },
};

/** Carrier codes are short upper-case tokens; anything else is refused at validation. */
export const carrierCodePattern = /^[A-Z0-9][A-Z0-9_-]{0,31}$/;

export function normaliseCarrierCode(code: string): string {
  return code.trim().toUpperCase();
}

/**
 * The `DEP*` family (deposited at a post office: DEPGUI, ...): letters only. A code known by its
 * prefix goes out in `return.status_changed` webhooks, so a longer token or one with digits (a phone
 * number after DEP) is not taken for one: it stays an anomaly, kept but never announced.
 */
const depositCode = /^DEP[A-Z]{0,5}$/;

export function mapCarrierCode(rawCode: string): CarrierEventMapping {
  const code = normaliseCarrierCode(rawCode);
  const exact = exactCodes[code];
  if (exact) return { ...exact, known: true };
  if (depositCode.test(code)) return { type: 'dispatched', reason: 'deposited_at_post_office', known: true };
  return { type: 'anomaly', reason: 'unknown_carrier_code', known: false };
}
