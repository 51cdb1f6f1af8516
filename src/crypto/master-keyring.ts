import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { VersionedKey } from '../config/keyring-format';
import type { DataClass } from './data-classes';
import { AadMismatchError, CorruptCiphertextError, KeyVersionUnavailableError } from './decryption-errors';
import { lengthPrefixed } from './length-prefixed';
import { pooledRandomBytes } from './random-pool';

export interface WrapContext {
  subjectId: string;
  dataClass: DataClass;
}

const wrapFormat = 0x01;
const ivLength = 12;
const tagLength = 16;
const dekLength = 32;
const wrappedLength = 1 + ivLength + dekLength + tagLength;

/** The AAD ties a wrapped DEK to its subject, class and KEK version: a swapped key row fails to unwrap. */
function wrapAad(ctx: WrapContext, kekVersion: string): Buffer {
  return lengthPrefixed(['returnvault:dek:v1', ctx.subjectId, ctx.dataClass, kekVersion]);
}

/**
 * The key-encryption keys (MASTER_KEYS). Data keys are wrapped under the active (last) version and
 * unwrapped under whichever version wrapped them, so data stays readable while a rotation runs.
 */
export class MasterKeyring {
  readonly activeVersion: string;
  readonly versions: string[];
  readonly #keys: Map<string, Buffer>;

  constructor(keys: readonly VersionedKey[]) {
    if (keys.length === 0) throw new Error('MASTER_KEYS holds no key');
    this.#keys = new Map(keys.map((entry) => [entry.version, entry.key]));
    this.versions = keys.map((entry) => entry.version);
    this.activeVersion = this.versions[this.versions.length - 1]!;
  }

  has(version: string): boolean {
    return this.#keys.has(version);
  }

  /** Wraps under the active version, or under `kekVersion` (a rotation job's target). */
  wrap(
    dek: Buffer,
    ctx: WrapContext,
    kekVersion: string = this.activeVersion,
  ): { wrapped: Buffer; kekVersion: string } {
    if (dek.length !== dekLength) throw new Error(`a data key must be ${dekLength} bytes`);
    const kek = this.#keys.get(kekVersion);
    if (!kek) throw new KeyVersionUnavailableError(`MASTER_KEYS does not hold master key ${kekVersion}`);
    const iv = pooledRandomBytes(ivLength);
    const cipher = createCipheriv('aes-256-gcm', kek, iv);
    cipher.setAAD(wrapAad(ctx, kekVersion));
    const body = Buffer.concat([cipher.update(dek), cipher.final()]);
    return { wrapped: Buffer.concat([Buffer.of(wrapFormat), iv, body, cipher.getAuthTag()]), kekVersion };
  }

  unwrap(wrapped: Buffer, kekVersion: string, ctx: WrapContext): Buffer {
    const kek = this.#keys.get(kekVersion);
    if (!kek) {
      throw new KeyVersionUnavailableError(
        `the ${ctx.dataClass} data key is wrapped by master key ${kekVersion}, which MASTER_KEYS does not hold`,
      );
    }
    if (wrapped.length !== wrappedLength || wrapped[0] !== wrapFormat) {
      throw new CorruptCiphertextError(`the wrapped ${ctx.dataClass} data key has an unknown format`);
    }
    const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(1, 1 + ivLength));
    decipher.setAAD(wrapAad(ctx, kekVersion));
    decipher.setAuthTag(wrapped.subarray(wrappedLength - tagLength));
    try {
      return Buffer.concat([
        decipher.update(wrapped.subarray(1 + ivLength, wrappedLength - tagLength)),
        decipher.final(),
      ]);
    } catch {
      throw new AadMismatchError(
        `the ${ctx.dataClass} data key does not authenticate under master key ${kekVersion} for this subject`,
      );
    }
  }
}

/** A fresh random data key. */
export function generateDataKey(): Buffer {
  // A copy: a key shares no memory with the IVs that go out in ciphertexts, nor keeps the pool alive.
  return Buffer.from(pooledRandomBytes(dekLength));
}
