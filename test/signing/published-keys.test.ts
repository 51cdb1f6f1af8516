import { generateKeyPairSync } from 'node:crypto';
import { compactVerify, createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

const newSigningKey = () =>
  generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

describe('/.well-known/jwks.json', () => {
  it('keeps publishing an earlier signing key, so what it signed still verifies after SIGNING_KEY changed', async () => {
    const database = await createTestDatabase();
    const before = await createTestApp({ database, env: { SIGNING_KEY: newSigningKey() } });
    const signed = await before.app.signer.sign({ checkpoint: 1 }, 'test+jwt');
    await before.app.close();

    const after = await createTestApp({ database, env: { SIGNING_KEY: newSigningKey() } });
    const jwks = (await after.app.inject({ url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys.map((key: { kid: string }) => key.kid)).toEqual([
      after.app.signer.kid,
      before.app.signer.kid,
    ]);
    expect(jwks.keys.every((key: Record<string, unknown>) => !('d' in key))).toBe(true);
    const { payload } = await compactVerify(signed, createLocalJWKSet(jwks));
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ checkpoint: 1 });
  });
});
