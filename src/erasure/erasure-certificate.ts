import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Signer } from '../signing/signing-key';
import type { ErasedData, KeptData } from './erasure-outcome';

/** The JWS `typ` of an erasure certificate; verifiers should check it. */
export const erasureCertificateType = 'erasure-certificate+jwt';

export interface ErasureCertificatePayload {
  iss: 'returnvault';
  jti: string;
  iat: number;
  requestId: string;
  /**
   * HMAC-SHA256(salt, subject id): links the certificate to the subject for whoever holds the subject
   * id (the controller), and to nobody else. Never derived from the e-mail.
   */
  subjectRef: { alg: 'HMAC-SHA256'; salt: string; digest: string };
  erasedAt: string;
  erased: ErasedData[];
  kept: KeptData[];
  policyVersion: string;
  /**
   * Only on the certificate of a completion: what a legal hold deferred, erased later. Points at the
   * request's first certificate (SHA-256 of its compact JWS), which stays valid for what it says.
   */
  completes?: ErasureCertificateCompletion;
}

export interface ErasureCertificateCompletion {
  /** 1 for the first completion of the request, then 2, ... */
  sequence: number;
  /** When the request itself was executed (the first certificate's `erasedAt`). */
  requestErasedAt: string;
  /** base64url SHA-256 of the request's first certificate, as stored in its result. */
  certificateSha256: string;
}

/** Binds a completion certificate to the one it completes without copying it. */
export function certificateDigest(certificate: string): string {
  return createHash('sha256').update(certificate, 'utf8').digest('base64url');
}

export function saltedSubjectRef(subjectId: string, salt: string): string {
  return createHmac('sha256', Buffer.from(salt, 'base64url')).update(subjectId, 'utf8').digest('base64url');
}

/** A compact JWS verifiable against /.well-known/jwks.json. */
export async function signErasureCertificate(
  signer: Signer,
  input: {
    requestId: string;
    subjectId: string | null;
    erasedAt: Date;
    erased: ErasedData[];
    kept: KeptData[];
    policyVersion: string;
    completes?: ErasureCertificateCompletion;
  },
): Promise<string> {
  const salt = randomBytes(16).toString('base64url');
  const payload: ErasureCertificatePayload = {
    iss: 'returnvault',
    // One id per certificate: a completion gets its own, the request's stays the request id.
    jti: input.completes ? `${input.requestId}/completion/${input.completes.sequence}` : input.requestId,
    iat: Math.floor(input.erasedAt.getTime() / 1000),
    requestId: input.requestId,
    // An unknown subject still gets a reference, over the request id, so every certificate has one shape.
    subjectRef: {
      alg: 'HMAC-SHA256',
      salt,
      digest: saltedSubjectRef(input.subjectId ?? input.requestId, salt),
    },
    erasedAt: input.erasedAt.toISOString(),
    erased: input.erased,
    kept: input.kept,
    policyVersion: input.policyVersion,
    ...(input.completes ? { completes: input.completes } : {}),
  };
  return signer.sign(payload, erasureCertificateType);
}
