import { customType } from 'drizzle-orm/pg-core';

/** PostgreSQL bytea as a Node Buffer (encrypted values, digests, wrapped keys). */
export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});
