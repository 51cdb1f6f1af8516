import { createHmac } from 'node:crypto';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSubjectKeyset } from '../../src/crypto/field-cipher';
import { untilFeedCaughtUp } from '../pseudonymization/feed-fixtures';
import { emailOf, readReturn, returnFor, runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

/** Every bytea column of the schema, to prove a value appears nowhere. */
async function byteaColumns(t: TestApp) {
  return t.database.sql<{ table: string; column: string }[]>`
    select table_name as "table", column_name as "column" from information_schema.columns
    where table_schema = current_schema() and data_type = 'bytea'`;
}

async function occurrences(t: TestApp, value: Buffer): Promise<string[]> {
  const found: string[] = [];
  for (const { table, column } of await byteaColumns(t)) {
    const [row] = await t.database.sql.unsafe(
      `select count(*)::int as n from "${table}" where "${column}" = $1`,
      [value],
    );
    if (row!.n > 0) found.push(`${table}.${column}`);
  }
  return found;
}

/** Columns of the subject's rows that still hold ciphertext. */
async function remainingCiphertext(t: TestApp, subjectId: string) {
  const [returns] = await t.database.sql`
    select count(*)::int as n from returns where subject_id = ${subjectId}
      and (customer_name_enc is not null or customer_email_enc is not null or customer_phone_enc is not null
        or address_line1_enc is not null or address_line2_enc is not null or postal_code_enc is not null
        or city_enc is not null or item_comments_enc is not null or iban_enc is not null)`;
  const [events] = await t.database.sql`
    select count(*)::int as n from return_events e join returns r on r.id = e.return_id
    where r.subject_id = ${subjectId} and (e.location_enc is not null or e.proof_enc is not null)`;
  const [requests] = await t.database.sql`
    select count(*)::int as n from subject_requests where subject_id = ${subjectId} and changes_enc is not null`;
  const [keys] = await t.database.sql`
    select count(*)::int as n from subject_data_keys where subject_id = ${subjectId} and wrapped_key is not null`;
  return { returns: returns!.n, events: events!.n, requests: requests!.n, keys: keys!.n };
}

describe('erasure by crypto-shredding (Art. 17)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('makes the contact data unrecoverable, signs a certificate and leaves other subjects alone', async () => {
    const first = await returnFor(t, 'er1', { refund: { method: 'original_payment' } });
    const second = await returnFor(t, 'er1', {
      orderRef: 'ORD-er1-b',
      refund: { method: 'original_payment' },
    });
    expect(second.subjectId).toBe(first.subjectId);
    await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${first.id}/events`,
      headers: bearer(await t.token('carrier')),
      payload: {
        carrierCode: 'ECHCFM',
        occurredAt: new Date(Date.now() - 3600_000).toISOString(),
        location: 'Loge er1',
      },
    });
    const bystander = await returnFor(t, 'er1-other');
    const digest = t.app.emailIndex.compute(emailOf('er1')).digest;
    expect(await occurrences(t, digest)).toEqual(['subjects.email_index']);

    const { id, response } = await runRequest(t, { type: 'erasure', email: emailOf('er1') });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.status).toBe('completed');
    expect(body.result.erased).toEqual([
      { dataClass: 'contact', returns: 2, keyDestroyed: true, emailIndexRemoved: true },
      { dataClass: 'payment', returns: 0, keyDestroyed: true },
    ]);
    expect(body.result.kept).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dataClass: 'accounting', reason: 'legal_obligation', returns: 2 }),
        expect.objectContaining({ dataClass: 'requests', reason: 'legal_obligation' }),
      ]),
    );
    // The certificate says what "accounting" is: the tracking timeline and the postal area among it.
    const accounting = (body.result.kept as { dataClass: string; fields?: string[] }[]).find(
      (kept) => kept.dataClass === 'accounting',
    );
    expect(accounting!.fields).toEqual(
      expect.arrayContaining([
        expect.stringContaining('tracking timeline'),
        expect.stringContaining('postal area'),
      ]),
    );

    // Nothing of the subject is left to decrypt, and the e-mail no longer finds it.
    expect(await remainingCiphertext(t, first.subjectId)).toEqual({
      returns: 0,
      events: 0,
      requests: 0,
      keys: 0,
    });
    expect(await occurrences(t, digest)).toEqual([]);
    const read = await readReturn(t, first.id, 'customer_support');
    expect(read.statusCode).toBe(200);
    expect(read.json().customer).toMatchObject({ name: null, email: null, phone: null });
    expect(read.json().erasedAt).not.toBeNull();
    const byEmail = await t.app.inject({
      url: `/v1/returns?email=${encodeURIComponent(emailOf('er1'))}`,
      headers: { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' },
    });
    expect(byEmail.json().items ?? byEmail.json()).toHaveLength(0);

    // The other subject is untouched.
    const other = await readReturn(t, bystander.id, 'customer_support');
    expect(other.json().customer.email).toBe(emailOf('er1-other'));

    // The certificate verifies against the published keys and names no e-mail.
    const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
    const { payload, protectedHeader } = await compactVerify(
      body.result.certificate,
      createLocalJWKSet(jwks),
    );
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'erasure-certificate+jwt' });
    expect(decodeProtectedHeader(body.result.certificate).kid).toBe(jwks.keys[0].kid);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    expect(claims).toMatchObject({
      requestId: id,
      policyVersion: t.policies.version,
      erased: body.result.erased,
      kept: body.result.kept,
    });
    const expectedRef = createHmac('sha256', Buffer.from(claims.subjectRef.salt, 'base64url'))
      .update(first.subjectId)
      .digest('base64url');
    expect(claims.subjectRef.digest).toBe(expectedRef);
    expect(JSON.stringify(claims)).not.toContain('er1@');
    const tampered = `${body.result.certificate.slice(0, -4)}AAAA`;
    await expect(compactVerify(tampered, createLocalJWKSet(jwks))).rejects.toThrow();

    // Executing again is safe: the same answer, nothing more changes.
    const again = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/execute`,
      headers: bearer(await t.token('dpo')),
    });
    expect(again.statusCode).toBe(200);
    expect(again.json().result).toEqual(body.result);

    // A new return for the same e-mail starts a new subject.
    const later = await returnFor(t, 'er1', { orderRef: 'ORD-er1-c' });
    expect(later.subjectId).not.toBe(first.subjectId);
    expect((await readReturn(t, later.id, 'customer_support')).json().customer.email).toBe(emailOf('er1'));

    // Recipients of pseudonymized data receive tombstones.
    const analytics = bearer(await t.token('backend', { clientId: 'analytics' }));
    await untilFeedCaughtUp(t);
    const feed = await t.app.inject({ url: '/v1/pseudonymized/returns?limit=1000', headers: analytics });
    const tombstones = feed.json().items.filter((item: { erased: boolean }) => item.erased);
    expect(tombstones).toHaveLength(2);

    // No personal value reached the audit log or the logs.
    const audit = JSON.stringify(await t.database.sql`select * from audit_events`);
    for (const secret of [emailOf('er1'), 'Vauquelin-er1', 'Quatre-Vents er1', 'Loge er1']) {
      expect(audit).not.toContain(secret);
      expect(t.logs.join('\n')).not.toContain(secret);
    }
    const actions = await t.database
      .sql`select action from audit_events where subject_ref = ${first.subjectId}`;
    expect(actions.map((row) => row.action)).toEqual(
      expect.arrayContaining(['erasure.contact', 'key.destroy', 'subject_request.execute']),
    );
  });

  it('answers an erasure for an e-mail nothing is held on with an empty, signed result', async () => {
    const { id, response } = await runRequest(t, { type: 'erasure', email: 'never.seen@example.org' });
    expect(response.json()).toMatchObject({
      status: 'completed',
      subjectId: null,
      result: { dataHeld: false, erased: [], kept: [] },
    });
    const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
    const { payload } = await compactVerify(response.json().result.certificate, createLocalJWKSet(jwks));
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({
      requestId: id,
      erased: [],
      kept: [],
    });
  });

  it('keeps the IBAN of a refund still owed, and erases that of a return no refund is owed for', async () => {
    const owed = await returnFor(t, 'er-owed');
    const rejected = await returnFor(t, 'er-owed', { orderRef: 'ORD-er-owed-rejected' });
    const cancelled = await returnFor(t, 'er-owed', { orderRef: 'ORD-er-owed-cancelled' });
    await t.database.sql`update returns set status = 'rejected' where id = ${rejected.id}`;
    await t.database.sql`update returns set status = 'closed' where id = ${cancelled.id}`;

    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('er-owed') });
    const result = response.json().result;
    expect(result.erased).toContainEqual({ dataClass: 'payment', returns: 2, keyDestroyed: false });
    expect(result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'payment', reason: 'legal_obligation', returns: 1 }),
    );
    // One return still owes its refund: when its accounting record goes is not known yet.
    expect(result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'accounting', until: null, returns: 3 }),
    );
    const ibans = await t.database.sql`
      select id, iban_enc is not null as kept from returns where subject_id = ${owed.subjectId}`;
    expect(Object.fromEntries(ibans.map((row) => [row.id, row.kept]))).toEqual({
      [owed.id]: true,
      [rejected.id]: false,
      [cancelled.id]: false,
    });
    // Kept to pay the refund: readable for that purpose, not for others; the contact data are gone.
    const forRefund = (await readReturn(t, owed.id, 'refund_processing')).json();
    expect(forRefund.refund.iban).toBe('FR1420041010050500013M02606');
    expect(forRefund.customer.name).toBeNull();
    expect((await readReturn(t, owed.id, 'customer_support')).json().refund.iban).toBeNull();
    expect(forRefund.withheldCategories).not.toContain('payment');
    // Archived meanwhile: only a purpose allowed on archived data reads the kept IBAN. To another that
    // may read payment data, the answer and the read's audit event say the IBAN was withheld.
    await t.database.sql`update returns set data_state = 'archived' where id = ${owed.id}`;
    const archivedForRefund = (await readReturn(t, owed.id, 'refund_processing')).json();
    expect(archivedForRefund.refund.iban).toBeNull();
    expect(archivedForRefund.withheldCategories).toContain('payment');
    const [readEvent] = await t.database.sql`
      select details from audit_events where action = 'return.read' and target_id = ${owed.id}
      order by occurred_at desc, id desc limit 1`;
    expect(readEvent!.details.withheld).toContain('payment');
    expect((await readReturn(t, owed.id, 'legal_claim')).json().refund.iban).toBe(
      'FR1420041010050500013M02606',
    );
  });

  it('restricts a kept IBAN with its subject, and gives it back when the restriction is lifted', async () => {
    const owed = await returnFor(t, 'er-restr');
    const dpo = bearer(await t.token('dpo'));
    // Restricted first, then erased: the IBAN of the refund still owed is kept, and stays restricted.
    const restriction = await runRequest(t, { type: 'restriction', email: emailOf('er-restr') });
    await runRequest(t, { type: 'erasure', email: emailOf('er-restr') });
    expect((await readReturn(t, owed.id, 'refund_processing')).json().refund.iban).toBeNull();
    const lift = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${restriction.id}/lift-restriction`,
      headers: dpo,
    });
    expect(lift.statusCode, lift.body).toBe(200);
    expect((await readReturn(t, owed.id, 'refund_processing')).json().refund.iban).toBe(
      'FR1420041010050500013M02606',
    );

    // Erased first, then restricted (the restriction request was received before the erasure ran).
    const other = await returnFor(t, 'er-restr2');
    const late = await runRequest(
      t,
      { type: 'restriction', email: emailOf('er-restr2') },
      { execute: false },
    );
    await runRequest(t, { type: 'erasure', email: emailOf('er-restr2') });
    const executed = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${late.id}/execute`,
      headers: dpo,
    });
    expect(executed.statusCode, executed.body).toBe(200);
    expect((await readReturn(t, other.id, 'refund_processing')).json().refund.iban).toBeNull();
  });

  it('says the accounting record of a return that ended with no refund is kept 10 years from its end', async () => {
    const cancelled = await returnFor(t, 'er-end', { refund: { method: 'original_payment' } });
    const endedAt = new Date(Date.now() - 3600_000);
    endedAt.setUTCMilliseconds(0);
    const posted = await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${cancelled.id}/events`,
      headers: bearer(await t.token('merchant')),
      payload: { type: 'cancelled', occurredAt: endedAt.toISOString() },
    });
    expect(posted.statusCode, posted.body).toBe(201);
    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('er-end') });
    const until = new Date(endedAt);
    until.setUTCFullYear(until.getUTCFullYear() + 10);
    expect(response.json().result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'accounting', until: until.toISOString(), returns: 1 }),
    );
  });

  it('keeps the IBAN while its 13-month dispute window runs, erases it once over', async () => {
    const recent = await returnFor(t, 'er2');
    const old = await returnFor(t, 'er2', { orderRef: 'ORD-er2-old' });
    const refundedAt = new Date(Date.now() - 30 * 86_400_000);
    await t.database
      .sql`update returns set refunded_at = ${refundedAt.toISOString()} where id = ${recent.id}`;
    await t.database.sql`update returns set refunded_at = now() - interval '14 months' where id = ${old.id}`;

    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('er2') });
    const result = response.json().result;
    expect(result.erased).toEqual([
      { dataClass: 'contact', returns: 2, keyDestroyed: true, emailIndexRemoved: true },
      { dataClass: 'payment', returns: 1, keyDestroyed: false },
    ]);
    const until = new Date(refundedAt);
    until.setUTCMonth(until.getUTCMonth() + 13);
    expect(result.kept).toContainEqual({
      dataClass: 'payment',
      reason: 'retention_running',
      legalBasis: expect.stringContaining('L133-24'),
      until: until.toISOString(),
      returns: 1,
    });
    const [kept] = await t.database.sql`select iban_enc, erased_at from returns where id = ${recent.id}`;
    expect(kept!.iban_enc).not.toBeNull();
    expect(kept!.erased_at).not.toBeNull();
    const [gone] = await t.database.sql`select iban_enc from returns where id = ${old.id}`;
    expect(gone!.iban_enc).toBeNull();
    // The kept IBAN can still be decrypted (its key lives); the contact key is gone.
    const keys = await loadSubjectKeyset(t.app.database.db, t.app.keyring, recent.subjectId);
    const ref = { table: 'returns', column: 'iban_enc', rowId: recent.id };
    expect(keys.decrypt('payment', ref, kept!.iban_enc)).toBe('FR1420041010050500013M02606');
    expect(keys.isDestroyed('contact')).toBe(true);
  });

  it('leaves all or nothing when it fails half-way', async () => {
    const victim = await returnFor(t, 'er3', { refund: { method: 'original_payment' } });
    const { id } = await runRequest(t, { type: 'erasure', email: emailOf('er3') }, { execute: false });
    const before = await remainingCiphertext(t, victim.subjectId);
    expect(before.returns).toBe(1);
    await t.database.sql.unsafe(`
      create function fail_key_destroy() returns trigger language plpgsql as $$
      begin raise exception 'injected failure'; end $$;
      create trigger fail_key_destroy before update on subject_data_keys
        for each row execute function fail_key_destroy();`);
    const dpo = bearer(await t.token('dpo'));
    try {
      const failed = await t.app.inject({
        method: 'POST',
        url: `/v1/subject-requests/${id}/execute`,
        headers: dpo,
      });
      expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    } finally {
      await t.database.sql.unsafe(
        'drop trigger fail_key_destroy on subject_data_keys; drop function fail_key_destroy();',
      );
    }
    expect(await remainingCiphertext(t, victim.subjectId)).toEqual(before);
    const [state] = await t.database.sql`
      select r.erased_at, s.email_index, q.status from returns r join subjects s on s.id = r.subject_id
      join subject_requests q on q.id = ${id} where r.id = ${victim.id}`;
    expect(state).toMatchObject({ erased_at: null, status: 'verified' });
    expect(state!.email_index).not.toBeNull();
    const retried = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/execute`,
      headers: dpo,
    });
    expect(retried.json().status).toBe('completed');
    expect(await remainingCiphertext(t, victim.subjectId)).toEqual({
      returns: 0,
      events: 0,
      requests: 0,
      keys: 0,
    });
  });

  it('ends consistent when a return for the same e-mail races the erasure', async () => {
    for (let round = 0; round < 3; round += 1) {
      const tag = `race${round}`;
      const existing = await returnFor(t, tag, { refund: { method: 'original_payment' } });
      const { id } = await runRequest(t, { type: 'erasure', email: emailOf(tag) }, { execute: false });
      const dpo = bearer(await t.token('dpo'));
      const support = bearer(await t.token('support'));
      const { returnRequest } = await import('../returns/return-fixtures');
      const intake = () =>
        t.app.inject({
          method: 'POST',
          url: '/v1/returns',
          headers: support,
          payload: returnRequest(
            { orderRef: `ORD-${tag}-late`, refund: { method: 'original_payment' } },
            tag,
          ),
        });
      const [erased, created] = await Promise.all([
        t.app.inject({ method: 'POST', url: `/v1/subject-requests/${id}/execute`, headers: dpo }),
        intake(),
      ]);
      expect(erased.statusCode).toBe(200);
      expect(created.statusCode).toBe(201);
      const [late] = await t.database.sql`
        select r.subject_id, r.erased_at, s.email_index from returns r join subjects s on s.id = r.subject_id
        where r.id = ${created.json().id}`;
      if (late!.subject_id === existing.subjectId) {
        // It committed before the erasure: erased with the rest.
        expect(late!.erased_at).not.toBeNull();
      } else {
        // It came after: a new subject, readable, found by the e-mail.
        expect(late!.erased_at).toBeNull();
        expect(late!.email_index).not.toBeNull();
      }
      expect(await remainingCiphertext(t, existing.subjectId)).toMatchObject({ returns: 0, keys: 0 });
    }
  });
});
