import { beforeAll, describe, expect, it } from 'vitest';
import { activeHoldsFor, heldReturnIds } from '../../src/legal-holds/active-holds';
import { runRetention } from '../../src/retention/retention-engine';
import { retentionDeps } from '../retention/retention-fixtures';
import { emailOf, readReturn, returnFor, runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('legal holds', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const place = (payload: Record<string, unknown>, headers = dpo) =>
    t.app.inject({ method: 'POST', url: '/v1/legal-holds', headers, payload });
  const release = (id: string) =>
    t.app.inject({ method: 'DELETE', url: `/v1/legal-holds/${id}`, headers: dpo });

  it('places a hold by e-mail or by return, lists it and releases it (idempotent)', async () => {
    const subject = await returnFor(t, 'hold1');
    const bySubject = await place({
      email: emailOf('hold1'),
      reason: 'tribunal judiciaire de Lyon, RG 24/01234',
    });
    expect(bySubject.statusCode).toBe(201);
    expect(bySubject.json()).toMatchObject({
      on: 'subject',
      subjectId: subject.subjectId,
      returnId: null,
      active: true,
    });
    expect(bySubject.body).not.toContain('hold1@');
    const byReturn = await place({
      returnId: subject.id,
      reason: 'carrier dispute',
      until: '2099-01-01T00:00:00Z',
    });
    expect(byReturn.json()).toMatchObject({
      on: 'return',
      returnId: subject.id,
      until: '2099-01-01T00:00:00.000Z',
    });

    expect(
      (await activeHoldsFor(t.app.database.db, { subjectId: subject.subjectId })).map((h) => h.id),
    ).toEqual([bySubject.json().id]);
    expect(await heldReturnIds(t.app.database.db, [subject.id])).toEqual(new Set([subject.id]));

    const released = await release(bySubject.json().id);
    expect(released.json()).toMatchObject({ active: false, releasedBy: expect.any(String) });
    expect((await release(bySubject.json().id)).json().releasedAt).toBe(released.json().releasedAt);
    expect((await activeHoldsFor(t.app.database.db, { subjectId: subject.subjectId })).length).toBe(0);
    // The return's own hold still covers it.
    expect(await heldReturnIds(t.app.database.db, [subject.id])).toEqual(new Set([subject.id]));

    const list = await t.app.inject({ url: '/v1/legal-holds?released=false', headers: dpo });
    expect(list.json().items.map((hold: { id: string }) => hold.id)).toContain(byReturn.json().id);
    const actions = await t.database.sql`
      select action from audit_events where target_type = 'legal_hold' order by id`;
    expect(actions.map((row) => row.action)).toEqual([
      'legal_hold.create',
      'legal_hold.create',
      'legal_hold.release',
    ]);
  });

  it('refuses bad input, unknown targets and other scopes', async () => {
    expect((await place({ reason: 'no target' })).statusCode).toBe(400);
    expect(
      (await place({ email: 'a@example.org', returnId: crypto.randomUUID(), reason: 'both' })).statusCode,
    ).toBe(400);
    expect(
      (await place({ email: 'a@example.org', reason: 'past', until: '2001-01-01T00:00:00Z' })).statusCode,
    ).toBe(400);
    const unknown = await place({ email: 'unknown.holder@example.org', reason: 'dispute' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).not.toContain('unknown.holder');
    expect((await place({ returnId: crypto.randomUUID(), reason: 'dispute' })).statusCode).toBe(404);
    expect((await release(crypto.randomUUID())).statusCode).toBe(404);
    const support = bearer(await t.token('support'));
    expect((await place({ email: 'a@example.org', reason: 'x' }, support)).statusCode).toBe(403);
  });

  it('blocks erasure of what it covers and says so, with the hold listed in the access package', async () => {
    const held = await returnFor(t, 'hold2', { refund: { method: 'original_payment' } });
    const free = await returnFor(t, 'hold2', {
      orderRef: 'ORD-hold2-b',
      refund: { method: 'original_payment' },
    });
    const hold = (
      await place({ returnId: held.id, reason: 'litigation', until: '2099-06-30T00:00:00Z' })
    ).json();

    const access = await runRequest(t, { type: 'access', email: emailOf('hold2') }, { execute: false });
    const pack = (
      await t.app.inject({ url: `/v1/subject-requests/${access.id}/package`, headers: dpo })
    ).json();
    expect(pack.legalHolds).toEqual([
      expect.objectContaining({
        id: hold.id,
        on: 'return',
        returnId: held.id,
        until: '2099-06-30T00:00:00.000Z',
      }),
    ]);

    const { id, response } = await runRequest(t, { type: 'erasure', email: emailOf('hold2') });
    const result = response.json().result;
    expect(result.erased[0]).toEqual({
      dataClass: 'contact',
      returns: 1,
      keyDestroyed: false,
      emailIndexRemoved: false,
    });
    expect(result.kept).toContainEqual({
      dataClass: 'contact',
      reason: 'legal_hold',
      legalBasis: expect.stringContaining('Art. 17(3)(e)'),
      until: '2099-06-30T00:00:00.000Z',
      returns: 1,
    });
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBe('Zoé Vauquelin-hold2');
    // Kept for legal claims only: restricted, no longer readable for everyday purposes.
    expect((await readReturn(t, held.id, 'customer_support')).statusCode).toBe(403);
    expect((await readReturn(t, free.id, 'legal_claim')).json().customer.name).toBeNull();

    // Released: the hold only deferred the request, which is completed at once and shreds the key.
    expect((await release(hold.id)).statusCode).toBe(200);
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBeNull();
    const [key] = await t.database.sql`
      select wrapped_key from subject_data_keys where subject_id = ${held.subjectId} and data_class = 'contact'`;
    expect(key!.wrapped_key).toBeNull();
    const [subject] = await t.database.sql`select email_index from subjects where id = ${held.subjectId}`;
    expect(subject!.email_index).toBeNull();
    const [released] = await t.database.sql`
      select details from audit_events where action = 'legal_hold.release' and target_id = ${hold.id}`;
    expect(released!.details.deferredErasures).toBe(1);
    const [erasure] = await t.database.sql`
      select details from audit_events where action = 'erasure.contact' and details->>'origin' = 'deferred_request'
        and subject_ref = ${held.subjectId}`;
    expect(erasure!.details.erased).toEqual([held.id]);
    // Nothing is left for a new request to find.
    expect((await runRequest(t, { type: 'erasure', email: emailOf('hold2') })).id).not.toBe(id);
  });

  it('completes a deferred erasure only once no hold covers the kept data', async () => {
    const held = await returnFor(t, 'hold4', { refund: { method: 'original_payment' } });
    const onReturn = (await place({ returnId: held.id, reason: 'carrier dispute' })).json();
    const onSubject = (await place({ email: emailOf('hold4'), reason: 'police request' })).json();
    await runRequest(t, { type: 'erasure', email: emailOf('hold4') });
    // Created after the request, by the same person: no erasure request covers it.
    const later = await returnFor(t, 'hold4', {
      orderRef: 'ORD-hold4-later',
      refund: { method: 'original_payment' },
    });
    expect(later.subjectId).toBe(held.subjectId);
    await release(onReturn.id);
    // The subject's hold still covers it.
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBe('Zoé Vauquelin-hold4');
    await release(onSubject.id);
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBeNull();
    expect((await readReturn(t, later.id, 'customer_support')).json().customer.name).toBe(
      'Zoé Vauquelin-hold4',
    );
  });

  it('lifting an earlier restriction leaves what an erasure kept under a hold restricted', async () => {
    const held = await returnFor(t, 'hold-lift', { refund: { method: 'original_payment' } });
    const restriction = await runRequest(t, { type: 'restriction', email: emailOf('hold-lift') });
    await place({ returnId: held.id, reason: 'litigation' });
    await runRequest(t, { type: 'erasure', email: emailOf('hold-lift') });
    const lift = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${restriction.id}/lift-restriction`,
      headers: dpo,
    });
    expect(lift.statusCode, lift.body).toBe(200);
    expect((await readReturn(t, held.id, 'customer_support')).statusCode).toBe(403);
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBe(
      'Zoé Vauquelin-hold-lift',
    );
  });

  it('completes a deferred erasure at the next retention run once its hold ended on its until', async () => {
    const held = await returnFor(t, 'hold7', { refund: { method: 'original_payment' } });
    const hold = (
      await place({ returnId: held.id, reason: 'litigation', until: '2099-01-01T00:00:00Z' })
    ).json();
    await runRequest(t, { type: 'erasure', email: emailOf('hold7') });
    await runRetention(retentionDeps(t));
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBe('Zoé Vauquelin-hold7');
    // The hold's end has passed (its date moved back rather than waiting for it).
    await t.database.sql`update legal_holds set until = now() - interval '1 minute' where id = ${hold.id}`;
    await runRetention(retentionDeps(t));
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBeNull();
    const [key] = await t.database.sql`
      select wrapped_key from subject_data_keys where subject_id = ${held.subjectId} and data_class = 'contact'`;
    expect(key!.wrapped_key).toBeNull();
  });

  it('does not visit again a deferred erasure left with only the IBAN of a refund still owed', async () => {
    const owed = await returnFor(t, 'hold8');
    const hold = (await place({ returnId: owed.id, reason: 'litigation' })).json();
    await runRequest(t, { type: 'erasure', email: emailOf('hold8') });
    await release(hold.id);
    const deferredEvents = () => t.database.sql`
      select action from audit_events where details->>'origin' = 'deferred_request' and subject_ref = ${owed.subjectId}`;
    const afterRelease = (await deferredEvents()).length;
    expect(afterRelease).toBeGreaterThan(0);
    // The IBAN stays for the refund still owed; the contact data went at the release.
    const [row] = await t.database.sql`
      select erased_at is not null as erased, iban_enc is not null as iban from returns where id = ${owed.id}`;
    expect(row).toEqual({ erased: true, iban: true });
    await runRetention(retentionDeps(t));
    await runRetention(retentionDeps(t));
    expect((await deferredEvents()).length).toBe(afterRelease);
  });

  it('completes the erasure when the last two holds on a subject are released at once', async () => {
    const held = await returnFor(t, 'hold9', { refund: { method: 'original_payment' } });
    const first = (await place({ returnId: held.id, reason: 'litigation' })).json();
    const second = (await place({ email: emailOf('hold9'), reason: 'police request' })).json();
    await runRequest(t, { type: 'erasure', email: emailOf('hold9') });
    const released = await Promise.all([release(first.id), release(second.id)]);
    expect(released.map((response) => response.statusCode)).toEqual([200, 200]);
    expect((await readReturn(t, held.id, 'legal_claim')).json().customer.name).toBeNull();
  });

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('keeps a return whose hold commits while an erasure waits for it', async () => {
    const target = await returnFor(t, 'hold5', { refund: { method: 'original_payment' } });
    let erasure: ReturnType<typeof runRequest> | undefined;
    await t.database.sql.begin(async (tx) => {
      // What placing a hold does: its return locked until the hold commits.
      await tx`select id from returns where id = ${target.id} for share`;
      await tx`insert into legal_holds (return_id, reason, created_by) values (${target.id}, 'litigation', 'dpo')`;
      erasure = runRequest(t, { type: 'erasure', email: emailOf('hold5') });
      await pause(400);
    });
    const { response } = await erasure!;
    expect(response.json().result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'contact', reason: 'legal_hold', returns: 1 }),
    );
    expect((await readReturn(t, target.id, 'legal_claim')).json().customer.name).toBe('Zoé Vauquelin-hold5');
  });

  it('places a hold only once a batch that holds its return or subject has committed', async () => {
    const target = await returnFor(t, 'hold6', { refund: { method: 'original_payment' } });
    for (const payload of [
      { returnId: target.id, reason: 'litigation' },
      { email: emailOf('hold6'), reason: 'litigation' },
    ]) {
      let placed = false;
      let placing: ReturnType<typeof place> | undefined;
      await t.database.sql.begin(async (tx) => {
        // What an erasure or a retention batch holds while it decides and acts.
        await tx`select r.id from returns r join subjects s on s.id = r.subject_id
          where r.id = ${target.id} for update`;
        placing = place(payload).then((response) => {
          placed = true;
          return response;
        });
        await pause(300);
        expect(placed).toBe(false);
      });
      expect((await placing!).statusCode).toBe(201);
    }
  });

  it('places a hold on a return while an erasure of its subject runs, without a deadlock', async () => {
    const target = await returnFor(t, 'hold7', { refund: { method: 'original_payment' } });
    let placing: ReturnType<typeof place> | undefined;
    await t.database.sql.begin(async (tx) => {
      // What an erasure does: its subject locked first, then its returns.
      await tx`select id from subjects where id = ${target.subjectId} for update`;
      placing = place({ returnId: target.id, reason: 'litigation' });
      for (let tries = 0; tries < 100; tries += 1) {
        const [waiting] = await t.database.sql`select count(*)::int as n from pg_locks where not granted`;
        if (waiting!.n > 0) break;
        await pause(20);
      }
      // Taken in the other order, this waits for the hold while the hold waits for the subject.
      await tx`select id from returns where id = ${target.id} for update`;
    });
    const placed = await placing!;
    expect(placed.statusCode, placed.body).toBe(201);
  });

  it('a hold on the subject keeps everything, even a subject with no return left to erase', async () => {
    const subject = await returnFor(t, 'hold3', { refund: { method: 'original_payment' } });
    await place({ email: emailOf('hold3'), reason: 'police request' });
    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('hold3') });
    expect(response.json().result.erased[0]).toMatchObject({ returns: 0, keyDestroyed: false });
    const [row] = await t.database.sql`
      select r.erased_at, s.email_index from returns r join subjects s on s.id = r.subject_id where r.id = ${subject.id}`;
    expect(row!.erased_at).toBeNull();
    expect(row!.email_index).not.toBeNull();
  });
});
