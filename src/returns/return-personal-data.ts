import type { DataClass } from '../crypto/data-classes';
import { KeyDestroyedError } from '../crypto/decryption-errors';
import type { FieldRef, SubjectKeyset } from '../crypto/field-cipher';
import type { NewReturnEventRow, NewReturnRow, ReturnEventRow, ReturnRow } from './returns.schema';

/** The personal fields of a return, in clear: they exist only in memory, never in a row or a log. */
export interface ReturnPersonalData {
  name: string | null;
  email: string | null;
  phone: string | null;
  line1: string | null;
  line2: string | null;
  postalCode: string | null;
  city: string | null;
  itemComments: (string | null)[] | null;
  iban: string | null;
}

type EncryptedReturnColumns = Pick<
  NewReturnRow,
  | 'customerNameEnc'
  | 'customerEmailEnc'
  | 'customerPhoneEnc'
  | 'addressLine1Enc'
  | 'addressLine2Enc'
  | 'postalCodeEnc'
  | 'cityEnc'
  | 'itemCommentsEnc'
  | 'ibanEnc'
>;

const returnRef = (rowId: string, column: string): FieldRef => ({ table: 'returns', column, rowId });
const eventRef = (rowId: string, column: string): FieldRef => ({ table: 'return_events', column, rowId });

export function encryptReturnPersonalData(
  keys: SubjectKeyset,
  returnId: string,
  data: ReturnPersonalData,
): EncryptedReturnColumns {
  const contact = (column: string, value: string | null) =>
    keys.encrypt('contact', returnRef(returnId, column), value);
  const comments = data.itemComments?.some((comment) => comment !== null)
    ? JSON.stringify(data.itemComments)
    : null;
  return {
    customerNameEnc: contact('customer_name_enc', data.name),
    customerEmailEnc: contact('customer_email_enc', data.email),
    customerPhoneEnc: contact('customer_phone_enc', data.phone),
    addressLine1Enc: contact('address_line1_enc', data.line1),
    addressLine2Enc: contact('address_line2_enc', data.line2),
    postalCodeEnc: contact('postal_code_enc', data.postalCode),
    cityEnc: contact('city_enc', data.city),
    itemCommentsEnc: contact('item_comments_enc', comments),
    ibanEnc: keys.encrypt('payment', returnRef(returnId, 'iban_enc'), data.iban),
  };
}

/**
 * Decrypts the classes a purpose may see; a class whose key was destroyed (erased) reads as null, any
 * other decryption failure propagates (it means tampering or a missing master key, not erasure).
 */
function reader(keys: SubjectKeyset, readable: ReadonlySet<DataClass>) {
  return (dataClass: DataClass, ref: FieldRef, value: Buffer | null): string | null => {
    if (!readable.has(dataClass) || value === null) return null;
    try {
      return keys.decrypt(dataClass, ref, value);
    } catch (error) {
      if (error instanceof KeyDestroyedError) return null;
      throw error;
    }
  };
}

export function decryptReturnPersonalData(
  keys: SubjectKeyset,
  row: ReturnRow,
  readable: ReadonlySet<DataClass>,
): ReturnPersonalData {
  const read = reader(keys, readable);
  const contact = (column: string, value: Buffer | null) => read('contact', returnRef(row.id, column), value);
  const comments = contact('item_comments_enc', row.itemCommentsEnc);
  return {
    name: contact('customer_name_enc', row.customerNameEnc),
    email: contact('customer_email_enc', row.customerEmailEnc),
    phone: contact('customer_phone_enc', row.customerPhoneEnc),
    line1: contact('address_line1_enc', row.addressLine1Enc),
    line2: contact('address_line2_enc', row.addressLine2Enc),
    postalCode: contact('postal_code_enc', row.postalCodeEnc),
    city: contact('city_enc', row.cityEnc),
    itemComments: comments === null ? null : (JSON.parse(comments) as (string | null)[]),
    iban: read('payment', returnRef(row.id, 'iban_enc'), row.ibanEnc),
  };
}

/** Tracking details (where, proof) are contact-class data of the event. */
export function encryptEventDetails(
  keys: SubjectKeyset,
  eventId: string,
  details: { location?: string; proof?: string },
): Pick<NewReturnEventRow, 'locationEnc' | 'proofEnc'> {
  // After an erasure the contact key is gone: new tracking details are not kept either.
  if (keys.isDestroyed('contact')) return { locationEnc: null, proofEnc: null };
  return {
    locationEnc: keys.encrypt('contact', eventRef(eventId, 'location_enc'), details.location ?? null),
    proofEnc: keys.encrypt('contact', eventRef(eventId, 'proof_enc'), details.proof ?? null),
  };
}

export function decryptEventDetails(
  keys: SubjectKeyset,
  event: ReturnEventRow,
  readable: ReadonlySet<DataClass>,
): { location: string | null; proof: string | null } {
  const read = reader(keys, readable);
  return {
    location: read('contact', eventRef(event.id, 'location_enc'), event.locationEnc),
    proof: read('contact', eventRef(event.id, 'proof_enc'), event.proofEnc),
  };
}
