import type { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import type { VersionedKey } from '../config/keyring-format';

/** One spelling per mailbox: Unicode compatibility form, no surrounding blanks, lower case. */
export function normalizeEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase();
}

/**
 * Keyed blind index of e-mails (BLIND_INDEX_KEYS): equal e-mails find the same subject without the
 * e-mail being stored, and without the key the digests cannot be tested against guessed e-mails.
 */
export class EmailBlindIndex {
  readonly activeVersion: string;
  readonly #keys: readonly VersionedKey[];

  constructor(keys: readonly VersionedKey[]) {
    if (keys.length === 0) throw new Error('BLIND_INDEX_KEYS holds no key');
    this.#keys = keys;
    this.activeVersion = keys[keys.length - 1]!.version;
  }

  /** The digest new subjects are stored under. */
  compute(email: string): { version: string; digest: Buffer } {
    const active = this.#keys[this.#keys.length - 1]!;
    return { version: active.version, digest: this.#digest(active.key, email) };
  }

  /** One digest per key version: a subject indexed under an older version is still found. */
  candidates(email: string): Buffer[] {
    return this.#keys.map((entry) => this.#digest(entry.key, email));
  }

  /** The digests under the keys before the active one (`candidates` without `compute`'s). */
  olderCandidates(email: string): Buffer[] {
    return this.#keys.slice(0, -1).map((entry) => this.#digest(entry.key, email));
  }

  #digest(key: Buffer, email: string): Buffer {
    return createHmac('sha256', key)
      .update(`returnvault:email:v1:${normalizeEmail(email)}`, 'utf8')
      .digest();
  }
}
