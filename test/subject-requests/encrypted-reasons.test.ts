import { beforeAll, describe, expect, it } from 'vitest';
import { encryptLegacyReasons } from '../../src/subject-requests/encrypt-legacy-reasons';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { emailOf, returnFor, runRequest } from './dsr-fixtures';

/** Reasons the DPO writes (a decision's, a hold's) may name the person: encrypted like contact data. */
describe('reasons of decisions and of legal holds', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const post = (url: string, payload: Record<string, unknown> = {}) =>
    t.app.inject({ method: 'POST', url, headers: dpo, payload });
  const requestOf = async (id: string) =>
    (await t.app.inject({ url: `/v1/subject-requests/${id}`, headers: dpo })).json();
  const holdOf = async (id: string) => {
    const list = await t.app.inject({ url: '/v1/legal-holds?limit=500', headers: dpo });
    return (list.json().items as { id: string; reason: string | null }[]).find((hold) => hold.id === id)!;
  };
  /** Whether a text is anywhere in these tables' rows, in clear or as hex in a bytea. */
  const storedInClear = async (text: string) => {
    const hex = Buffer.from(text, 'utf8').toString('hex');
    const [row] = await t.database.sql`
      select exists (select 1 from subject_requests r where r::text like ${`%${text}%`} or r::text like ${`%${hex}%`})
        or exists (select 1 from legal_holds h where h::text like ${`%${text}%`} or h::text like ${`%${hex}%`}) as found`;
    return row!.found as boolean;
  };

  it('keeps them under the subject contact key, readable, and loses them when the subject is erased', async () => {
    await returnFor(t, 'why1');
    const extension = 'Dossier de Zoé why1 réparti sur trois marchands';
    const rejection = 'Demande répétée de Zoé why1 (Art. 12(5))';
    const holdReason = 'Litige avec Zoé why1\nréf. 2026-42';
    const extended = (await post('/v1/subject-requests', { type: 'access', email: emailOf('why1') })).json();
    expect((await post(`/v1/subject-requests/${extended.id}/extend`, { reason: extension })).statusCode).toBe(
      200,
    );
    const rejected = (await post('/v1/subject-requests', { type: 'access', email: emailOf('why1') })).json();
    expect((await post(`/v1/subject-requests/${rejected.id}/reject`, { reason: rejection })).statusCode).toBe(
      200,
    );
    const hold = await post('/v1/legal-holds', { email: emailOf('why1'), reason: holdReason });
    expect(hold.json()).toMatchObject({ reason: holdReason });

    for (const text of [extension, rejection, holdReason]) expect(await storedInClear(text)).toBe(false);
    expect((await requestOf(extended.id)).extension.reason).toBe(extension);
    expect((await requestOf(rejected.id)).rejection.reason).toBe(rejection);
    expect((await holdOf(hold.json().id)).reason).toBe(holdReason);

    // Released, the hold no longer keeps the contact key: the erasure destroys it, and the reasons go.
    await t.app.inject({ method: 'DELETE', url: `/v1/legal-holds/${hold.json().id}`, headers: dpo });
    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('why1') });
    expect(response.statusCode, response.body).toBe(200);
    expect((await requestOf(extended.id)).extension).toMatchObject({ reason: null });
    expect((await requestOf(rejected.id)).rejection).toMatchObject({ reason: null });
    expect((await holdOf(hold.json().id)).reason).toBeNull();
    const [stored] = await t.database.sql`
      select extension_reason_enc from subject_requests where id = ${extended.id}`;
    expect(stored!.extension_reason_enc).toBeNull();
  });

  it('keeps none for a request on an e-mail nothing is held on: there is no key to keep it under', async () => {
    const reason = 'Aucune donnée sur why-none, identité non établie';
    const request = (
      await post('/v1/subject-requests', { type: 'access', email: emailOf('why-none') })
    ).json();
    const rejected = await post(`/v1/subject-requests/${request.id}/reject`, { reason });
    // The answer to the decision carries the reason as given, to pass on; the record keeps none.
    expect(rejected.json()).toMatchObject({ status: 'rejected', rejection: { reason } });
    expect((await requestOf(request.id)).rejection).toMatchObject({ reason: null });
    expect(await storedInClear(reason)).toBe(false);
  });

  it('keeps it for a request received before its subject existed, tying the request to the subject', async () => {
    const request = (
      await post('/v1/subject-requests', { type: 'access', email: emailOf('why-late') })
    ).json();
    const subject = await returnFor(t, 'why-late');
    const reason = 'Zoé why-late : trois marchands à interroger';
    expect((await post(`/v1/subject-requests/${request.id}/extend`, { reason })).statusCode).toBe(200);
    expect(await requestOf(request.id)).toMatchObject({
      subjectId: subject.subjectId,
      extension: { reason },
    });
    expect(await storedInClear(reason)).toBe(false);
  });

  it('encrypts at start the reasons stored in clear before migration 0034', async () => {
    const subject = await returnFor(t, 'why-old');
    const request = (
      await post('/v1/subject-requests', { type: 'access', email: emailOf('why-old') })
    ).json();
    const orphan = (
      await post('/v1/subject-requests', { type: 'access', email: emailOf('why-orphan') })
    ).json();
    const hold = (await post('/v1/legal-holds', { returnId: subject.id, reason: 'placeholder' })).json();
    await t.database.sql`
      update subject_requests set status = 'rejected', rejected_by = 'dpo-dev',
        rejection_reason = 'Ancien motif why-old' where id = ${request.id}`;
    await t.database.sql`
      update subject_requests set status = 'rejected', rejected_by = 'dpo-dev',
        rejection_reason = 'Ancien motif why-orphan' where id = ${orphan.id}`;
    await t.database.sql`
      update legal_holds set reason = 'Ancien litige why-old', reason_enc = null where id = ${hold.id}`;

    expect(await encryptLegacyReasons(t.database.db, t.app.keyring)).toEqual({
      encrypted: 2,
      dropped: 1,
      skipped: 0,
    });
    for (const text of ['Ancien motif why-old', 'Ancien motif why-orphan', 'Ancien litige why-old']) {
      expect(await storedInClear(text)).toBe(false);
    }
    expect((await requestOf(request.id)).rejection.reason).toBe('Ancien motif why-old');
    expect((await requestOf(orphan.id)).rejection.reason).toBeNull();
    expect((await holdOf(hold.id)).reason).toBe('Ancien litige why-old');
    // Nothing left to do: a second start changes nothing.
    expect(await encryptLegacyReasons(t.database.db, t.app.keyring)).toEqual({
      encrypted: 0,
      dropped: 0,
      skipped: 0,
    });
  });
});
