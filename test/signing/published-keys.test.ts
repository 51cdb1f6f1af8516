import { generateKeyPairSync } from 'node:crypto';
import { compactVerify, createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/audit/record-audit-event';
import { runSequencerOnce } from '../../src/audit/sequencer';
import { verifyBundle } from '../../src/audit/verify-bundle';
import { bearer, createTestApp } from '../support/test-app';
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

  it('puts every published key in an audit export, so a checkpoint signed before the change verifies', async () => {
    const database = await createTestDatabase();
    const before = await createTestApp({ database, env: { SIGNING_KEY: newSigningKey() } });
    await recordAuditEvent(before.database.db, {}, { action: 'test.before-key-change', outcome: 'success' });
    await runSequencerOnce(before.database, before.app.signer);
    await before.app.close();

    const after = await createTestApp({ database, env: { SIGNING_KEY: newSigningKey() } });
    const bundle = (
      await after.app.inject({ url: '/v1/audit/export', headers: bearer(await after.token('auditor')) })
    ).json();
    const summary = await verifyBundle(bundle);
    expect(summary.keyId).toBe(before.app.signer.kid);
  });

  it('still serves the current key when the table of published keys is not there yet', async () => {
    const t = await createTestApp();
    await t.database.sql`drop table published_signing_keys`;
    const jwks = await t.app.inject({ url: '/.well-known/jwks.json' });
    expect(jwks.statusCode).toBe(200);
    expect(jwks.json().keys.map((key: { kid: string }) => key.kid)).toEqual([t.app.signer.kid]);
  });
});
