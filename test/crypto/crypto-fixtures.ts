import { randomBytes } from 'node:crypto';
import type { VersionedKey } from '../../src/config/keyring-format';
import { declareEncryptedColumns } from '../../src/crypto/encryption-map';

/** A fresh random versioned key, as MASTER_KEYS or BLIND_INDEX_KEYS would hold it. */
export function versionedKey(version: string): VersionedKey {
  return { version, key: randomBytes(32) };
}

/** Columns of a table that only the crypto tests create: personal-looking values, two classes. */
export const testTable = 'crypto_test_fields';

declareEncryptedColumns(testTable, { name_enc: 'contact', phone_enc: 'contact', iban_enc: 'payment' });
