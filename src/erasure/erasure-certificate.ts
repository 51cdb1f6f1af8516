import { createHmac, randomBytes } from 'node:crypto';
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
  },
): Promise<string> {
  const salt = randomBytes(16).toString('base64url');
  const payload: ErasureCertificatePayload = {
    iss: 'returnvault',
    jti: input.requestId,
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
  };
  return signer.sign(payload, erasureCertificateType);
}
