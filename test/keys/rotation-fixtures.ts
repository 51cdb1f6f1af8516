import { randomUUID } from 'node:crypto';
import { type FieldRef, loadSubjectKeyset } from '../../src/crypto/field-cipher';
import type { MasterKeyring } from '../../src/crypto/master-keyring';
import { subjects } from '../../src/crypto/subjects.schema';
import type { Database } from '../../src/db/database';
import { testTable } from '../crypto/crypto-fixtures';

export interface StoredValue {
  subjectId: string;
  ref: FieldRef;
  ciphertext: Buffer;
  plaintext: string;
}

/** Subjects with both data keys wrapped by the keyring's active version, and one value per class. */
export async function writeSubjects(
  db: Database,
  keyring: MasterKeyring,
  count: number,
): Promise<StoredValue[]> {
  const values: StoredValue[] = [];
  for (let n = 0; n < count; n += 1) {
    const [row] = await db
      .insert(subjects)
      .values({ emailIndex: Buffer.from(randomUUID()), emailIndexVersion: 'v1' })
      .returning({ id: subjects.id });
    const keys = await loadSubjectKeyset(db, keyring, row!.id, { create: ['contact', 'payment'] });
    const rowId = randomUUID();
    const name = { table: testTable, column: 'name_enc', rowId };
    const iban = { table: testTable, column: 'iban_enc', rowId };
    values.push(
      {
        subjectId: row!.id,
        ref: name,
        ciphertext: keys.encrypt('contact', name, `Client ${n}`)!,
        plaintext: `Client ${n}`,
      },
      {
        subjectId: row!.id,
        ref: iban,
        ciphertext: keys.encrypt('payment', iban, `FR76${n}`)!,
        plaintext: `FR76${n}`,
      },
    );
  }
  return values;
}

/** Decrypts every value with a keyset loaded now from the database. */
export async function readAll(
  db: Database,
  keyring: MasterKeyring,
  values: StoredValue[],
): Promise<string[]> {
  const read: string[] = [];
  for (const value of values) {
    const keys = await loadSubjectKeyset(db, keyring, value.subjectId);
    const dataClass = value.ref.column === 'iban_enc' ? 'payment' : 'contact';
    read.push(keys.decrypt(dataClass, value.ref, value.ciphertext)!);
  }
  return read;
}
