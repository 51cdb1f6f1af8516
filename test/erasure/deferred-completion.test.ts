import { createHash } from 'node:crypto';
import { compactVerify, createLocalJWKSet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { runRetention } from '../../src/retention/retention-engine';
import { retentionDeps } from '../retention/retention-fixtures';
import { emailOf, returnFor, runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('completion of an erasure request a legal hold deferred', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const place = async (payload: Record<string, unknown>) =>
    (await t.app.inject({ method: 'POST', url: '/v1/legal-holds', headers: dpo, payload })).json();
  const release = (id: string) =>
    t.app.inject({ method: 'DELETE', url: `/v1/legal-holds/${id}`, headers: dpo });
  const requestOf = async (id: string) =>
    (await t.app.inject({ url: `/v1/subject-requests/${id}`, headers: dpo })).json();
  const claimsOf = async (certificate: string) => {
    const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
    const { payload, protectedHeader } = await compactVerify(certificate, createLocalJWKSet(jwks));
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'erasure-certificate+jwt' });
    return JSON.parse(new TextDecoder().decode(payload));
  };

  it('releasing the hold appends a signed completion to the request, its first certificate kept', async () => {
    const held = await returnFor(t, 'done1', { refund: { method: 'original_payment' } });
    const hold = await place({ returnId: held.id, reason: 'litigation' });
    const { id, response } = await runRequest(t, { type: 'erasure', email: emailOf('done1') });
    const before = response.json().result;
    expect(before.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'contact', reason: 'legal_hold' }),
    );

    expect((await release(hold.id)).statusCode).toBe(200);
    const after = await requestOf(id);
    // What the request answered then stays as signed then.
    expect(after.result).toMatchObject({
      erased: before.erased,
      kept: before.kept,
      certificate: before.certificate,
    });
    expect(after.result.completions).toEqual([
      {
        at: expect.any(String),
        erased: [
          { dataClass: 'contact', returns: 1, keyDestroyed: true, emailIndexRemoved: true },
          { dataClass: 'payment', returns: 0, keyDestroyed: true },
        ],
        kept: [expect.objectContaining({ dataClass: 'accounting', reason: 'legal_obligation', returns: 1 })],
        policyVersion: t.policies.version,
        certificate: expect.any(String),
      },
    ]);
    const completion = after.result.completions[0];
    const claims = await claimsOf(completion.certificate);
    expect(claims).toMatchObject({
      requestId: id,
      jti: `${id}/completion/1`,
      erasedAt: completion.at,
      erased: completion.erased,
      kept: completion.kept,
      completes: {
        sequence: 1,
        requestErasedAt: before.erasedAt,
        certificateSha256: createHash('sha256').update(before.certificate).digest('base64url'),
      },
    });
    // Both certificates verify: an auditor sees the deferral and its end.
    expect((await claimsOf(before.certificate)).kept).toEqual(before.kept);

    const events = await t.database.sql`
      select subject_ref, details from audit_events
      where action = 'subject_request.erasure_completed' and target_id = ${id}`;
    expect(events).toHaveLength(1);
    expect(events[0]!.subject_ref).toBe(held.subjectId);
    expect(events[0]!.details).toMatchObject({
      origin: 'deferred_request',
      completion: 1,
      erased: { contact: 1, payment: 0 },
      stillKeptForHold: false,
      signed: true,
    });
    expect(JSON.stringify(events)).not.toContain('done1');

    // Nothing is kept for a hold any more: a later retention run adds nothing.
    await runRetention(retentionDeps(t));
    expect((await requestOf(id)).result.completions).toHaveLength(1);
  });

  it('records each step while another hold still keeps part of the data', async () => {
    const first = await returnFor(t, 'done2', { refund: { method: 'original_payment' } });
    const second = await returnFor(t, 'done2', {
      orderRef: 'ORD-done2-b',
      refund: { method: 'original_payment' },
    });
    const firstHold = await place({ returnId: first.id, reason: 'litigation' });
    const secondHold = await place({ returnId: second.id, reason: 'carrier dispute' });
    const { id } = await runRequest(t, { type: 'erasure', email: emailOf('done2') });

    await release(firstHold.id);
    const partial = (await requestOf(id)).result.completions;
    expect(partial).toHaveLength(1);
    expect(partial[0].erased[0]).toEqual({
      dataClass: 'contact',
      returns: 1,
      keyDestroyed: false,
      emailIndexRemoved: false,
    });
    expect(partial[0].kept).toContainEqual(
      expect.objectContaining({ dataClass: 'contact', reason: 'legal_hold', returns: 1 }),
    );

    await release(secondHold.id);
    const completions = (await requestOf(id)).result.completions;
    expect(completions).toHaveLength(2);
    expect(completions[1].erased[0]).toMatchObject({ returns: 1, keyDestroyed: true });
    expect(completions[1].kept.map((kept: { reason: string }) => kept.reason)).not.toContain('legal_hold');
    expect((await claimsOf(completions[1].certificate)).completes.sequence).toBe(2);
  });

  it("records the completion a retention run makes once a hold's until has passed", async () => {
    const held = await returnFor(t, 'done3', { refund: { method: 'original_payment' } });
    const hold = await place({ returnId: held.id, reason: 'litigation', until: '2099-01-01T00:00:00Z' });
    const { id } = await runRequest(t, { type: 'erasure', email: emailOf('done3') });
    await t.database.sql`update legal_holds set until = now() - interval '1 minute' where id = ${hold.id}`;
    await runRetention(retentionDeps(t));
    const { result } = await requestOf(id);
    expect(result.completions).toHaveLength(1);
    expect(result.completions[0].erased[0]).toEqual({
      dataClass: 'contact',
      returns: 1,
      keyDestroyed: true,
      emailIndexRemoved: true,
    });
    expect(result.completions[0].kept.map((kept: { reason: string }) => kept.reason)).not.toContain(
      'legal_hold',
    );
    expect((await claimsOf(result.completions[0].certificate)).completes.sequence).toBe(1);
  });
});
