import { beforeAll, describe, expect, it } from 'vitest';
import { untilFeedCaughtUp } from '../pseudonymization/feed-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { emailOf, readReturn, returnFor, runRequest } from './dsr-fixtures';

describe('access, portability, rectification and restriction', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const packageOf = (id: string) => t.app.inject({ url: `/v1/subject-requests/${id}/package`, headers: dpo });

  it('answers an access request with every datum decrypted, purposes, recipients, retention, sources and rights', async () => {
    const first = await returnFor(t, 'acc1');
    await returnFor(t, 'acc1', { orderRef: 'ORD-acc1-b' });
    await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${first.id}/events`,
      headers: bearer(await t.token('carrier')),
      payload: {
        carrierCode: 'ECHCFM',
        occurredAt: new Date(Date.now() - 3600_000).toISOString(),
        location: 'Loge acc1',
      },
    });
    // The analytics recipient reads the feed, so the package names it with the time of disclosure.
    const analytics = bearer(await t.token('backend', { clientId: 'analytics' }));
    await untilFeedCaughtUp(t);
    await t.app.inject({ url: '/v1/pseudonymized/returns?limit=1000', headers: analytics });
    const { id } = await runRequest(t, { type: 'access', email: emailOf('acc1') }, { execute: false });

    const response = await packageOf(id);
    expect(response.statusCode).toBe(200);
    const pack = response.json();
    expect(pack).toMatchObject({
      format: 'returnvault.access/v1',
      requestId: id,
      dataHeld: true,
      subject: { restricted: false },
    });
    expect(pack.returns).toHaveLength(2);
    const decrypted = pack.returns.find((item: { id: string }) => item.id === first.id);
    expect(decrypted.customer).toMatchObject({
      name: 'Zoé Vauquelin-acc1',
      email: emailOf('acc1'),
      phone: '+33612345678',
      address: { line1: '17 rue des Quatre-Vents acc1', city: 'Paris-Secret-acc1' },
    });
    expect(decrypted.items[0].comment).toBe('Trop petit pour acc1');
    expect(decrypted.refund.iban).toBe('FR1420041010050500013M02606');
    expect(decrypted.events[0].location).toBe('Loge acc1');
    expect(pack.purposes.map((purpose: { id: string }) => purpose.id)).toContain('customer_support');
    expect(pack.recipients.disclosures).toEqual([
      expect.objectContaining({
        recipientId: 'analytics',
        form: 'pseudonymized',
        firstDisclosedAt: expect.any(String),
      }),
    ]);
    expect(
      pack.retention.find((entry: { dataClass: string }) => entry.dataClass === 'payment').steps[0],
    ).toMatchObject({
      action: 'erase',
      after: 'P13M',
    });
    expect(pack.sources.map((source: { dataCategory: string }) => source.dataCategory)).toEqual(
      expect.arrayContaining(['contact', 'payment', 'accounting', 'proof']),
    );
    expect(pack.rights.map((right: { article: string }) => right.article)).toContain('GDPR Art. 17');
    expect(pack.legalHolds).toEqual([]);
    // The subject's own requests are data held on them: this one is listed, with where it stands.
    expect(pack.requests).toEqual([
      expect.objectContaining({ id, type: 'access', status: 'verified', completedAt: null }),
    ]);

    // The values the package shows are nowhere in the database in clear.
    const dump = JSON.stringify(
      await t.database.sql`
        select r.*, e.*, q.* from returns r left join return_events e on e.return_id = r.id
        cross join subject_requests q where r.subject_id = ${first.subjectId}`,
    );
    for (const secret of [
      'Vauquelin-acc1',
      emailOf('acc1'),
      'Quatre-Vents acc1',
      'Loge acc1',
      'FR1420041010050500013M02606',
    ]) {
      expect(dump).not.toContain(secret);
    }
    // Fetching the package starts the work; executing completes it with a summary only.
    expect((await t.app.inject({ url: `/v1/subject-requests/${id}`, headers: dpo })).json().status).toBe(
      'in_progress',
    );
    const done = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/execute`,
      headers: dpo,
    });
    expect(done.json()).toMatchObject({ status: 'completed', result: { dataHeld: true, returns: 2 } });
    expect(JSON.stringify(done.json())).not.toContain('acc1@');
    const audit = JSON.stringify(await t.database.sql`select * from audit_events`);
    expect(audit).not.toContain('Vauquelin-acc1');
    expect(t.logs.join('\n')).not.toContain('Vauquelin-acc1');
  });

  it('refuses the package before verification and for other request types', async () => {
    const { id } = await runRequest(t, { type: 'erasure', email: emailOf('nopack') }, { execute: false });
    expect((await packageOf(id)).statusCode).toBe(409);
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/subject-requests',
      headers: dpo,
      payload: { type: 'access', email: emailOf('nopack') },
    });
    const unverified = await packageOf(created.json().id);
    expect(unverified.statusCode).toBe(409);
    expect(unverified.json().code).toBe('request_not_verified');
  });

  it('answers an unknown e-mail with a package saying no data is held', async () => {
    const { id } = await runRequest(
      t,
      { type: 'access', email: 'nobody.here@example.org' },
      { execute: false },
    );
    const pack = (await packageOf(id)).json();
    expect(pack).toMatchObject({
      dataHeld: false,
      subject: null,
      returns: [],
      statement: 'No personal data is held on this e-mail address.',
    });
    expect(pack.rights.length).toBeGreaterThan(0);
  });

  it('gives portability only the data the person provided', async () => {
    await returnFor(t, 'port1');
    const { id } = await runRequest(t, { type: 'portability', email: emailOf('port1') }, { execute: false });
    const pack = (await packageOf(id)).json();
    expect(pack.format).toBe('returnvault.portability/v1');
    expect(pack.returns).toBeUndefined();
    expect(pack.providedData).toEqual([
      {
        orderRef: 'ORD-port1',
        createdAt: expect.any(String),
        method: 'mailbox',
        customer: expect.objectContaining({ name: 'Zoé Vauquelin-port1', email: emailOf('port1') }),
        items: [
          { sku: 'SKU-1', quantity: 1, reason: 'wrong_size', comment: 'Trop petit pour port1' },
          { sku: 'SKU-2', quantity: 2, reason: 'changed_mind', comment: null },
        ],
        refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
      },
    ]);
  });

  it('rectifies contact fields: re-encrypted, the blind index moved, recipients see the change', async () => {
    const subject = await returnFor(t, 'rect1');
    const feedToken = bearer(await t.token('backend', { clientId: 'analytics' }));
    await untilFeedCaughtUp(t);
    const firstSync = (
      await t.app.inject({ url: '/v1/pseudonymized/returns?limit=1000', headers: feedToken })
    ).json();
    const newEmail = 'zoe.renamed.rect1@example.org';
    const { id, response } = await runRequest(t, {
      type: 'rectification',
      email: emailOf('rect1'),
      changes: {
        name: 'Zoé Renommée',
        email: newEmail,
        address: { line1: '3 place Neuve', postalCode: '69002', city: 'Lyon', country: 'FR' },
      },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'completed',
      pendingChanges: false,
      result: { changedFields: ['address', 'email', 'name'], returns: 1, emailIndexMoved: true },
    });
    const [request] = await t.database.sql`select changes_enc from subject_requests where id = ${id}`;
    expect(request!.changes_enc).toBeNull();
    const read = (await readReturn(t, subject.id, 'customer_support')).json();
    expect(read.customer).toMatchObject({
      name: 'Zoé Renommée',
      email: newEmail,
      phone: '+33612345678',
      address: { line1: '3 place Neuve', line2: null, postalCode: '69002', city: 'Lyon' },
    });
    const support = { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' };
    const lookup = async (email: string) =>
      (
        await t.app.inject({ url: `/v1/returns?email=${encodeURIComponent(email)}`, headers: support })
      ).json();
    expect((await lookup(newEmail)).items.map((item: { id: string }) => item.id)).toEqual([subject.id]);
    expect((await lookup(emailOf('rect1'))).items).toEqual([]);
    const [row] = await t.database.sql`select postal_area from returns where id = ${subject.id}`;
    expect(row!.postal_area).toBe('69');
    // The rectified return comes again after the recipient's cursor.
    await untilFeedCaughtUp(t);
    const next = (
      await t.app.inject({
        url: `/v1/pseudonymized/returns?limit=1000&after=${firstSync.next}`,
        headers: feedToken,
      })
    ).json();
    expect(next.items).toHaveLength(1);
    expect(next.items[0]).toMatchObject({ erased: false, postalArea: '69' });
    expect(t.logs.join('\n')).not.toContain('Renommée');
  });

  it('writes nothing back onto a subject an erasure shreds while the rectification waits', async () => {
    const subject = await returnFor(t, 'race-rect');
    const { id } = await runRequest(
      t,
      {
        type: 'rectification',
        email: emailOf('race-rect'),
        changes: { email: 'moved.race-rect@example.org' },
      },
      { execute: false },
    );
    let execute: Promise<{ statusCode: number; body: string }> | undefined;
    await t.database.sql.begin(async (tx) => {
      // What an erasure does, holding the subject until it commits.
      await tx`select id from subjects where id = ${subject.subjectId} for update`;
      await tx`update subjects set erased_at = now(), email_index = null where id = ${subject.subjectId}`;
      await tx`update subject_data_keys set wrapped_key = null, destroyed_at = now() where subject_id = ${subject.subjectId}`;
      await tx`update returns set erased_at = now(), customer_name_enc = null, customer_email_enc = null,
        customer_phone_enc = null, address_line1_enc = null, address_line2_enc = null, postal_code_enc = null,
        city_enc = null, item_comments_enc = null where subject_id = ${subject.subjectId}`;
      execute = t.app.inject({ method: 'POST', url: `/v1/subject-requests/${id}/execute`, headers: dpo });
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    const executed = await execute!;
    expect(executed.statusCode, executed.body).toBeLessThan(500);
    const [after] = await t.database.sql`select email_index from subjects where id = ${subject.subjectId}`;
    expect(after!.email_index).toBeNull();
    const [row] = await t.database.sql`
      select customer_email_enc is null as gone from returns where id = ${subject.id}`;
    expect(row!.gone).toBe(true);
  });

  it('keeps no new key or changes for a subject an erasure shreds while a rectification is received', async () => {
    const subject = await returnFor(t, 'race-rect-new');
    let created: Promise<{ statusCode: number; body: string; json(): { id: string } }> | undefined;
    await t.database.sql.begin(async (tx) => {
      // What an erasure does, holding the subject until it commits.
      await tx`select id from subjects where id = ${subject.subjectId} for update`;
      await tx`update subjects set erased_at = now(), email_index = null where id = ${subject.subjectId}`;
      await tx`update subject_data_keys set wrapped_key = null, destroyed_at = now() where subject_id = ${subject.subjectId}`;
      created = t.app.inject({
        method: 'POST',
        url: '/v1/subject-requests',
        headers: dpo,
        payload: {
          type: 'rectification',
          email: emailOf('race-rect-new'),
          changes: { name: 'Zoé Renommée' },
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    const response = await created!;
    expect(response.statusCode, response.body).toBe(201);
    const keys = await t.database.sql`
      select data_class from subject_data_keys where subject_id = ${subject.subjectId} and wrapped_key is not null`;
    expect(keys).toEqual([]);
    const [request] = await t.database.sql`
      select subject_id, changes_enc from subject_requests where id = ${response.json().id}`;
    expect(request).toEqual({ subject_id: null, changes_enc: null });
  });

  it('refuses to complete a rectification whose changes came before any data: they were not kept', async () => {
    const { id } = await runRequest(
      t,
      { type: 'rectification', email: emailOf('rect-early'), changes: { name: 'Zoé Renommée' } },
      { execute: false },
    );
    const subject = await returnFor(t, 'rect-early');
    const executed = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/execute`,
      headers: dpo,
    });
    expect(executed.statusCode, executed.body).toBe(409);
    expect(executed.json()).toMatchObject({ code: 'conflict', reason: 'changes_not_kept' });
    const [request] = await t.database.sql`select status from subject_requests where id = ${id}`;
    expect(request!.status).toBe('verified');
    expect((await readReturn(t, subject.id, 'customer_support')).json().customer.name).toBe(
      'Zoé Vauquelin-rect-early',
    );
  });

  it('refuses it too once a decision tied the request to the subject that arrived since', async () => {
    const { id } = await runRequest(
      t,
      { type: 'rectification', email: emailOf('rect-tied'), changes: { name: 'Zoé Renommée' } },
      { execute: false },
    );
    await returnFor(t, 'rect-tied');
    const extended = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/extend`,
      headers: dpo,
      payload: { reason: 'vérification en cours' },
    });
    expect(extended.json().subjectId).not.toBeNull();
    const executed = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/execute`,
      headers: dpo,
    });
    expect(executed.statusCode, executed.body).toBe(409);
    expect(executed.json()).toMatchObject({ reason: 'changes_not_kept' });
  });

  it('says data is still held, and gives it back, when an erasure kept the IBAN of a refund owed', async () => {
    const owed = await returnFor(t, 'iban-kept');
    const { response } = await runRequest(t, { type: 'erasure', email: emailOf('iban-kept') });
    expect(response.json().result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'payment', reason: 'legal_obligation' }),
    );
    // The e-mail no longer finds the subject: the packages are asked for through the subject id.
    const [row] = await t.database
      .sql`select iban_enc is not null as kept from returns where id = ${owed.id}`;
    expect(row!.kept).toBe(true);
    const pack = async (type: 'access' | 'portability') => {
      const { id } = await runRequest(t, { type, email: emailOf('iban-kept-probe') }, { execute: false });
      await t.database
        .sql`update subject_requests set subject_id = ${owed.subjectId}, email_index = null where id = ${id}`;
      return (await packageOf(id)).json();
    };
    const access = await pack('access');
    expect(access.dataHeld).toBe(true);
    expect(access.returns[0].refund.iban).toBe('FR1420041010050500013M02606');
    const portability = await pack('portability');
    expect(portability.dataHeld).toBe(true);
    expect(portability.providedData).toEqual([
      expect.objectContaining({
        customer: expect.objectContaining({ name: null, email: null }),
        refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
      }),
    ]);
  });

  it('refuses a rectification onto an e-mail another subject uses', async () => {
    await returnFor(t, 'rect2');
    await returnFor(t, 'rect3');
    const { response } = await runRequest(t, {
      type: 'rectification',
      email: emailOf('rect2'),
      changes: { email: emailOf('rect3') },
    });
    expect(response.statusCode).toBe(409);
  });

  it('restricts a return whose intake was under way when the restriction was executed', async () => {
    const subject = await returnFor(t, 'restr-race');
    const { id } = await runRequest(
      t,
      { type: 'restriction', email: emailOf('restr-race') },
      { execute: false },
    );
    let execute: Promise<{ statusCode: number; body: string }> | undefined;
    let lateId = '';
    await t.database.sql.begin(async (tx) => {
      // What an intake does: the subject held FOR KEY SHARE, its return inserted, not yet committed.
      await tx`select id from subjects where id = ${subject.subjectId} for key share`;
      const [late] = await tx`
        insert into returns select (jsonb_populate_record(null::returns, to_jsonb(source)
          || jsonb_build_object('id', gen_random_uuid(), 'order_ref', 'ORD-restr-race-b'))).*
        from returns source where source.id = ${subject.id} returning id`;
      lateId = late!.id;
      execute = t.app.inject({ method: 'POST', url: `/v1/subject-requests/${id}/execute`, headers: dpo });
      const first = await Promise.race([
        execute.then(() => 'answered'),
        new Promise((resolve) => setTimeout(() => resolve('waiting'), 500)),
      ]);
      expect(first).toBe('waiting');
    });
    const executed = await execute!;
    expect(executed.statusCode, executed.body).toBe(200);
    const [late] = await t.database.sql`select data_state, restricted_at from returns where id = ${lateId}`;
    expect(late!.data_state).toBe('restricted');
    expect(late!.restricted_at).not.toBeNull();
  });

  it('keeps a subject restricted while another of its restriction requests is in force', async () => {
    const subject = await returnFor(t, 'restr-two');
    const { id: first } = await runRequest(t, { type: 'restriction', email: emailOf('restr-two') });
    const { id: second } = await runRequest(t, { type: 'restriction', email: emailOf('restr-two') });
    const lift = (id: string) =>
      t.app.inject({ method: 'POST', url: `/v1/subject-requests/${id}/lift-restriction`, headers: dpo });
    const liftedFirst = await lift(first);
    expect(liftedFirst.json().result).toMatchObject({ liftedReturns: 0, restrictionRemainsUnder: [second] });
    expect((await readReturn(t, subject.id, 'customer_support')).statusCode).toBe(403);
    const liftedSecond = await lift(second);
    expect(liftedSecond.json().result).toMatchObject({ liftedReturns: 1 });
    expect((await readReturn(t, subject.id, 'customer_support')).statusCode).toBe(200);
  });

  it('restricts processing to legal claims, and lifting it is its own audited step', async () => {
    const subject = await returnFor(t, 'restr1');
    const { id, response } = await runRequest(t, { type: 'restriction', email: emailOf('restr1') });
    expect(response.json()).toMatchObject({ status: 'completed', result: { restrictedReturns: 1 } });
    expect((await readReturn(t, subject.id, 'customer_support')).statusCode).toBe(403);
    const claim = await readReturn(t, subject.id, 'legal_claim');
    expect(claim.statusCode).toBe(200);
    expect(claim.json().customer.name).toBe('Zoé Vauquelin-restr1');

    // A return created while the restriction holds starts restricted.
    const later = await returnFor(t, 'restr1', { orderRef: 'ORD-restr1-b' });
    expect((await readReturn(t, later.id, 'customer_support')).statusCode).toBe(403);

    const lift = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/lift-restriction`,
      headers: dpo,
    });
    expect(lift.statusCode).toBe(200);
    expect(lift.json().result).toMatchObject({ restrictedReturns: 1, liftedReturns: 2 });
    expect((await readReturn(t, subject.id, 'customer_support')).statusCode).toBe(200);
    expect((await readReturn(t, later.id, 'customer_support')).statusCode).toBe(200);
    const actions = await t.database.sql`select action from audit_events where target_id = ${id} order by id`;
    expect(actions.map((row) => row.action)).toContain('subject_request.lift_restriction');
  });
});
