import { hkdfSync } from 'node:crypto';
import { createShortHmac } from '../crypto/short-hmac';

/** What a pseudonym stands for; each kind has its own key, so equal ids of two kinds never collide. */
export const pseudonymKinds = ['subject', 'return', 'order', 'cursor'] as const;
export type PseudonymKind = (typeof pseudonymKinds)[number];

/** Bumped when the derivation changes (or the root secret is rotated): recipients see a new series. */
export const pseudonymPrefix = 'ps1_';
/** 144 bits of HMAC output: 24 base64url characters, well past the 128 bits DESIGN.md asks for. */
const pseudonymBytes = 18;
const hkdfSalt = Buffer.from('returnvault/pseudonyms/v1');

/** The keys of one recipient, derived once from the root secret. */
export interface RecipientKeys {
  /** Keyed pseudonym of an internal id (subject id, return id) or order reference. */
  pseudonym(kind: Exclude<PseudonymKind, 'cursor'>, value: string): string;
  /** Authenticates this recipient's feed cursors. */
  readonly cursorKey: Buffer;
}

function deriveKey(rootSecret: Buffer, recipientId: string, kind: PseudonymKind): Buffer {
  const info = `recipient=${recipientId};kind=${kind}`;
  return Buffer.from(hkdfSync('sha256', rootSecret, hkdfSalt, info, 32));
}

/**
 * Per-recipient pseudonyms: HMAC-SHA256 under a key derived (HKDF) from PSEUDONYM_SECRET for the
 * recipient and the kind. Without the root secret, two recipients cannot link their pseudonyms, and
 * nobody can go back from a pseudonym to the subject. Keys are cached: derivation is the slow part.
 */
export function createPseudonymKeys(rootSecret: Buffer): (recipientId: string) => RecipientKeys {
  const cache = new Map<string, RecipientKeys>();
  return (recipientId) => {
    const cached = cache.get(recipientId);
    if (cached) return cached;
    const macs = {
      subject: createShortHmac(deriveKey(rootSecret, recipientId, 'subject')),
      return: createShortHmac(deriveKey(rootSecret, recipientId, 'return')),
      order: createShortHmac(deriveKey(rootSecret, recipientId, 'order')),
    };
    const created: RecipientKeys = {
      pseudonym: (kind, value) =>
        pseudonymPrefix + macs[kind](value).toString('base64url', 0, pseudonymBytes),
      cursorKey: deriveKey(rootSecret, recipientId, 'cursor'),
    };
    cache.set(recipientId, created);
    return created;
  };
}
