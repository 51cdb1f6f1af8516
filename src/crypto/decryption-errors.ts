/**
 * Why a value could not be decrypted. Messages name only tables, columns, classes and versions:
 * never a plaintext, a ciphertext or key material, so they are safe in logs.
 */
export abstract class DecryptionError extends Error {
  abstract readonly reason: 'key_destroyed' | 'key_version_unavailable' | 'aad_mismatch' | 'corrupt';
}

/** The subject's data key of this class was crypto-shredded (or never existed). */
export class KeyDestroyedError extends DecryptionError {
  override name = 'KeyDestroyedError';
  readonly reason = 'key_destroyed';
}

/** The data key is wrapped by a master key version that MASTER_KEYS no longer holds. */
export class KeyVersionUnavailableError extends DecryptionError {
  override name = 'KeyVersionUnavailableError';
  readonly reason = 'key_version_unavailable';
}

/** AES-GCM authentication failed: the value was moved to another row, column or subject, or altered. */
export class AadMismatchError extends DecryptionError {
  override name = 'AadMismatchError';
  readonly reason = 'aad_mismatch';
}

/** The stored bytes are not a value this code wrote (too short, unknown format or algorithm). */
export class CorruptCiphertextError extends DecryptionError {
  override name = 'CorruptCiphertextError';
  readonly reason = 'corrupt';
}

/** A column is encrypted without being declared in the encryption map, or the map and schema disagree. */
export class EncryptionMapError extends Error {
  override name = 'EncryptionMapError';
}
