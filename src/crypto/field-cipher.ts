import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import { isAnyOf } from '../db/array-param';
import type { DataClass } from './data-classes';
import {
  AadMismatchError,
  CorruptCiphertextError,
  EncryptionMapError,
  KeyDestroyedError,
} from './decryption-errors';
import { declaredDataClass } from './encryption-map';
import { hkdfExpander, hkdfExtract } from './hkdf';
import { lengthPrefixed } from './length-prefixed';
import { generateDataKey, type MasterKeyring } from './master-keyring';
import { pooledRandomBytes } from './random-pool';
import { subjectDataKeys } from './subject-data-keys.schema';

/** Where a value lives: bound into the AAD so a copy elsewhere does not decrypt. */
export interface FieldRef {
  table: string;
  column: string;
  rowId: string;
}

const formatVersion = 0x01;
const algorithmAes256GcmHkdf = 0x01;
const headerLength = 4;
const ivLength = 12;
const tagLength = 16;

/** format, algorithm, key generation (uint16): the generation says which DEK of the class wrote it. */
function header(generation: number): Buffer {
  const bytes = Buffer.alloc(headerLength);
  bytes[0] = formatVersion;
  bytes[1] = algorithmAes256GcmHkdf;
  bytes.writeUInt16BE(generation, 2);
  return bytes;
}

function aad(headerBytes: Buffer, ref: FieldRef, subjectId: string): Buffer {
  return Buffer.concat([headerBytes, lengthPrefixed([ref.table, ref.column, ref.rowId, subjectId])]);
}

interface StoredKey {
  wrappedKey: Buffer | null;
  kekVersion: string | null;
  generation: number;
}

/**
 * The data keys of one subject. DEKs are unwrapped on first use and, with the field keys derived
 * from them, live only as long as this object: there is no process-wide cache of plaintext keys.
 */
export class SubjectKeyset {
  readonly #keyring: MasterKeyring;
  readonly #stored: Map<DataClass, StoredKey>;
  /** DEKs generated for this keyset; stored ones are unwrapped only to derive their PRK. */
  readonly #fresh: Map<DataClass, Buffer>;
  /** HKDF expansions under the DEKs' pseudo-random keys: the per-key half of deriving field keys. */
  readonly #expanders = new Map<DataClass, (info: string) => Buffer>();
  readonly #fieldKeys = new Map<string, Buffer>();

  constructor(
    readonly subjectId: string,
    keyring: MasterKeyring,
    stored: Map<DataClass, StoredKey>,
    fresh: Map<DataClass, Buffer>,
  ) {
    this.#keyring = keyring;
    this.#stored = stored;
    this.#fresh = new Map(fresh);
  }

  isDestroyed(dataClass: DataClass): boolean {
    return !this.#stored.get(dataClass)?.wrappedKey;
  }

  encrypt(dataClass: DataClass, ref: FieldRef, plaintext: string | null): Buffer | null {
    this.#checkDeclared(dataClass, ref);
    if (plaintext === null) return null;
    const generation = this.#liveGeneration(dataClass, ref);
    const headerBytes = header(generation);
    const iv = pooledRandomBytes(ivLength);
    const cipher = createCipheriv('aes-256-gcm', this.#fieldKey(dataClass, ref), iv);
    cipher.setAAD(aad(headerBytes, ref, this.subjectId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([headerBytes, iv, body, cipher.getAuthTag()]);
  }

  decrypt(dataClass: DataClass, ref: FieldRef, ciphertext: Buffer | null): string | null {
    this.#checkDeclared(dataClass, ref);
    if (ciphertext === null) return null;
    if (
      ciphertext.length < headerLength + ivLength + tagLength ||
      ciphertext[0] !== formatVersion ||
      ciphertext[1] !== algorithmAes256GcmHkdf
    ) {
      throw new CorruptCiphertextError(`${ref.table}.${ref.column} does not hold a value in a known format`);
    }
    const generation = this.#liveGeneration(dataClass, ref);
    const writtenGeneration = ciphertext.readUInt16BE(2);
    if (writtenGeneration > generation) {
      // No key of this class has reached that generation: the header was altered, not erased.
      throw new CorruptCiphertextError(
        `${ref.table}.${ref.column} names a ${dataClass} key generation the subject never had`,
      );
    }
    if (writtenGeneration < generation) {
      // Written under an earlier DEK of this class, which an erasure destroyed.
      throw new KeyDestroyedError(
        `${ref.table}.${ref.column}: the ${dataClass} key that wrote it was destroyed`,
      );
    }
    const headerBytes = ciphertext.subarray(0, headerLength);
    const iv = ciphertext.subarray(headerLength, headerLength + ivLength);
    const decipher = createDecipheriv('aes-256-gcm', this.#fieldKey(dataClass, ref), iv);
    decipher.setAAD(aad(headerBytes, ref, this.subjectId));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - tagLength));
    try {
      const body = ciphertext.subarray(headerLength + ivLength, ciphertext.length - tagLength);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      throw new AadMismatchError(
        `${ref.table}.${ref.column} does not authenticate for this row and subject (moved or altered)`,
      );
    }
  }

  #checkDeclared(dataClass: DataClass, ref: FieldRef): void {
    if (declaredDataClass(ref.table, ref.column) !== dataClass) {
      throw new EncryptionMapError(`${ref.table}.${ref.column} is not declared with data class ${dataClass}`);
    }
  }

  #liveGeneration(dataClass: DataClass, ref: FieldRef): number {
    const stored = this.#stored.get(dataClass);
    if (!stored?.wrappedKey) {
      throw new KeyDestroyedError(`${ref.table}.${ref.column}: the subject's ${dataClass} key is destroyed`);
    }
    return stored.generation;
  }

  #fieldKey(dataClass: DataClass, ref: FieldRef): Buffer {
    const cacheKey = `${dataClass}:${ref.table}.${ref.column}`;
    let fieldKey = this.#fieldKeys.get(cacheKey);
    if (!fieldKey) {
      fieldKey = this.#expander(dataClass)(`returnvault:field:v1:${ref.table}.${ref.column}`);
      this.#fieldKeys.set(cacheKey, fieldKey);
    }
    return fieldKey;
  }

  #expander(dataClass: DataClass): (info: string) => Buffer {
    let expander = this.#expanders.get(dataClass);
    if (!expander) {
      const stored = this.#stored.get(dataClass)!;
      const dek =
        this.#fresh.get(dataClass) ??
        this.#keyring.unwrap(stored.wrappedKey!, stored.kekVersion!, {
          subjectId: this.subjectId,
          dataClass,
        });
      expander = hkdfExpander(hkdfExtract(dek));
      this.#expanders.set(dataClass, expander);
    }
    return expander;
  }
}

/**
 * Loads a subject's keys. Classes listed in `create` get a fresh DEK when they have none or theirs was
 * destroyed (a new generation: data written before the erasure stays unreadable). Concurrent callers
 * end on one key per class: the insert yields to a committed row instead of replacing it.
 */
export async function loadSubjectKeyset(
  executor: Executor,
  keyring: MasterKeyring,
  subjectId: string,
  options: { create?: DataClass[] } = {},
): Promise<SubjectKeyset> {
  return (await loadSubjectKeysets(executor, keyring, [subjectId], options)).get(subjectId)!;
}

/** Most subjects one call takes: four parameters per created key stay under PostgreSQL's 65,535. */
export const maxKeysetBatch = 5000;

/** `loadSubjectKeyset` for many subjects in two statements (bulk intake, seeding). */
export async function loadSubjectKeysets(
  executor: Executor,
  keyring: MasterKeyring,
  subjectIds: readonly string[],
  options: { create?: DataClass[] } = {},
): Promise<Map<string, SubjectKeyset>> {
  const ids = [...new Set(subjectIds)];
  if (ids.length > maxKeysetBatch) throw new RangeError(`at most ${maxKeysetBatch} subjects per call`);
  const fresh = new Map<string, Map<DataClass, Buffer>>(ids.map((id) => [id, new Map()]));
  const create = [...new Set(options.create ?? [])];
  if (create.length > 0 && ids.length > 0) {
    const candidates = ids.flatMap((subjectId) =>
      create.map((dataClass) => {
        const dek = generateDataKey();
        const { wrapped, kekVersion } = keyring.wrap(dek, { subjectId, dataClass });
        return { subjectId, dataClass, dek, wrappedKey: wrapped, kekVersion };
      }),
    );
    const inserted = await executor
      .insert(subjectDataKeys)
      .values(
        candidates.map(({ subjectId, dataClass, wrappedKey, kekVersion }) => ({
          subjectId,
          dataClass,
          wrappedKey,
          kekVersion,
        })),
      )
      .onConflictDoUpdate({
        target: [subjectDataKeys.subjectId, subjectDataKeys.dataClass],
        set: {
          wrappedKey: sql`excluded.wrapped_key`,
          kekVersion: sql`excluded.kek_version`,
          generation: sql`${subjectDataKeys.generation} + 1`,
          destroyedAt: sql`null`,
          createdAt: sql`now()`,
          wrappedAt: sql`now()`,
        },
        setWhere: isNotNull(subjectDataKeys.destroyedAt),
      })
      .returning({ subjectId: subjectDataKeys.subjectId, dataClass: subjectDataKeys.dataClass });
    const dekOf = new Map(
      candidates.map((candidate) => [`${candidate.subjectId}:${candidate.dataClass}`, candidate.dek]),
    );
    for (const { subjectId, dataClass } of inserted) {
      fresh.get(subjectId)!.set(dataClass, dekOf.get(`${subjectId}:${dataClass}`)!);
    }
  }
  const rows =
    ids.length === 0
      ? []
      : await executor
          .select({
            subjectId: subjectDataKeys.subjectId,
            dataClass: subjectDataKeys.dataClass,
            wrappedKey: subjectDataKeys.wrappedKey,
            kekVersion: subjectDataKeys.kekVersion,
            generation: subjectDataKeys.generation,
          })
          .from(subjectDataKeys)
          .where(isAnyOf(subjectDataKeys.subjectId, ids));
  const stored = new Map<string, Map<DataClass, StoredKey>>(ids.map((id) => [id, new Map()]));
  for (const row of rows) stored.get(row.subjectId)!.set(row.dataClass, row);
  return new Map(ids.map((id) => [id, new SubjectKeyset(id, keyring, stored.get(id)!, fresh.get(id)!)]));
}

/**
 * Crypto-shredding: the wrapped DEK is overwritten with NULL, so every value of that class becomes
 * unreadable. The caller nulls the encrypted columns in the same transaction. True when a live key
 * was destroyed by this call.
 */
export async function destroySubjectKey(
  executor: Executor,
  subjectId: string,
  dataClass: DataClass,
  audit: AuditContext,
): Promise<boolean> {
  return (await destroySubjectKeys(executor, [subjectId], dataClass, audit)).length > 0;
}

/**
 * The same for many subjects at once (a retention batch): one update and one `key.destroy` event
 * listing the subjects. Answers the subjects whose live key this call destroyed.
 */
export async function destroySubjectKeys(
  executor: Executor,
  subjectIds: string[],
  dataClass: DataClass,
  audit: AuditContext,
): Promise<string[]> {
  if (subjectIds.length === 0) return [];
  const destroyed = await executor
    .update(subjectDataKeys)
    .set({ wrappedKey: null, destroyedAt: sql`now()` })
    .where(
      and(
        isAnyOf(subjectDataKeys.subjectId, subjectIds),
        eq(subjectDataKeys.dataClass, dataClass),
        isNotNull(subjectDataKeys.wrappedKey),
      ),
    )
    .returning({ subjectId: subjectDataKeys.subjectId });
  const single = subjectIds.length === 1 ? subjectIds[0]! : null;
  await recordAuditEvent(executor, audit, {
    action: 'key.destroy',
    outcome: 'success',
    targetType: 'subject_data_key',
    targetId: single && `${single}:${dataClass}`,
    subjectRef: single,
    // `destroyed` below `subjects.length`: some keys were destroyed before (an erasure run again).
    details: { dataClass, subjects: subjectIds, destroyed: destroyed.length },
  });
  return destroyed.map((row) => row.subjectId);
}
