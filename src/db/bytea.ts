import { customType } from 'drizzle-orm/pg-core';

/** Bytes in bytea's text input form (`\\x` and hex), for values that travel as text and are cast to bytea. */
export function byteaText(bytes: Buffer): string {
  return `\\x${bytes.toString('hex')}`;
}

/** PostgreSQL bytea as a Node Buffer (encrypted values, digests, wrapped keys). */
export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});
