import { beforeAll, describe, expect, it } from 'vitest';
import { EncryptionMapError } from '../../src/crypto/decryption-errors';
import { declareEncryptedColumns, verifyEncryptionMap } from '../../src/crypto/encryption-map';
import { type DatabaseHandle, openDatabase } from '../../src/db/database';
import { createTestDatabase } from '../support/test-database';
import { testTable } from './crypto-fixtures';

describe('encryption map self-check', () => {
  // A schema of its own, so the tables of other capabilities do not take part in these checks.
  let database: DatabaseHandle;
  beforeAll(async () => {
    const shared = await createTestDatabase();
    await shared.sql.unsafe('create schema crypto_map_test');
    database = openDatabase(shared.url, { maxConnections: 1 });
    await database.sql.unsafe('set search_path to crypto_map_test');
    return () => database.close();
  });

  it('fails while a declared column is absent from a complete schema, passes once it exists', async () => {
    await expect(verifyEncryptionMap(database.sql, { schemaComplete: true })).rejects.toThrow(
      /absent from the schema.*crypto_test_fields\.name_enc/,
    );
    // Migrations still pending: the column may come with them, so only undeclared columns count.
    await verifyEncryptionMap(database.sql, { schemaComplete: false });
    await database.sql.unsafe(
      `create table ${testTable} (id uuid primary key, name_enc bytea, phone_enc bytea, iban_enc bytea)`,
    );
    await verifyEncryptionMap(database.sql, { schemaComplete: true });
  });

  it('fails on a bytea *_enc column nobody declared, naming it', async () => {
    await database.sql.unsafe(`alter table ${testTable} add column address_enc bytea`);
    const check = verifyEncryptionMap(database.sql, { schemaComplete: false });
    await expect(check).rejects.toThrow(EncryptionMapError);
    await expect(check).rejects.toThrow(/crypto_test_fields\.address_enc/);
    declareEncryptedColumns(testTable, { address_enc: 'contact' });
    await verifyEncryptionMap(database.sql, { schemaComplete: true });
  });

  it('fails on a declared column that is not bytea', async () => {
    await database.sql.unsafe(`alter table ${testTable} alter column phone_enc type text`);
    await expect(verifyEncryptionMap(database.sql, { schemaComplete: true })).rejects.toThrow(/phone_enc/);
  });

  it('refuses one column declared with two classes', () => {
    expect(() => declareEncryptedColumns(testTable, { name_enc: 'payment' })).toThrow(EncryptionMapError);
  });
});
