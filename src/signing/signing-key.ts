import { createPrivateKey, createPublicKey } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

/**
 * The service's Ed25519 signing key: it signs erasure certificates and audit checkpoints, and its
 * public half is published at /.well-known/jwks.json so anyone can verify them offline.
 */
export interface Signer {
  kid: string;
  publicJwk: JWK;
  /** Signs a JSON payload as a compact JWS with `typ` naming what it is. */
  sign(payload: unknown, typ: string): Promise<string>;
}

export async function createSigner(privateKeyPem: string): Promise<Signer> {
  const privateKey = createPrivateKey(privateKeyPem);
  const publicJwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwk: JWK = { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid,
    publicJwk: jwk,
    sign: (payload, typ) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'EdDSA', kid, typ })
        .sign(privateKey),
  };
}
