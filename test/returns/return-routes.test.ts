import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturnVia, daysAgo, returnRequest } from './return-fixtures';

const timeOrderedId = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/;

describe('returns API', () => {
  let t: TestApp;
  let supportToken: string;
  beforeAll(async () => {
    t = await createTestApp();
    supportToken = await t.token('support');
  });

  const read = (id: string, purpose: string | undefined, token = supportToken) =>
    t.app.inject({
      url: `/v1/returns/${id}`,
      headers: { ...bearer(token), ...(purpose ? { 'x-purpose': purpose } : {}) },
    });

  it('creates a return and answers its id, status and legal clocks', async () => {
    const response = await createReturnVia(t, returnRequest({}, 'create'));
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toMatchObject({ status: 'created', merchantId: 'm-100', orderRef: 'ORD-create' });
    expect(body.withdrawalDeadline).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(body.returnDeadline).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(body.refund).toMatchObject({ dueAt: null, daysLate: 0, surchargePercent: 0 });
    const [row] = await t.database
      .sql`select status, postal_area, country, total_cents, items from returns where id = ${body.id}`;
    expect(row).toMatchObject({ status: 'created', postal_area: '75', country: 'FR', total_cents: '7999' });
    expect(JSON.stringify(row!.items)).not.toContain('Trop petit');
    const [audit] = await t.database.sql`
      select actor, subject_ref, details from audit_events where action = 'return.create' and target_id = ${body.id}`;
    const [subject] = await t.database.sql`select subject_id from returns where id = ${body.id}`;
    expect(audit!.subject_ref).toBe(subject!.subject_id);
    // Time-ordered ids (version 7): returns made together are stored and swept together.
    expect([body.id, subject!.subject_id]).toEqual([
      expect.stringMatching(timeOrderedId),
      expect.stringMatching(timeOrderedId),
    ]);
  });

  it('reads the return back decrypted for a declared purpose, with its timeline, and audits the read', async () => {
    const request = returnRequest({}, 'read');
    const { id } = (await createReturnVia(t, request)).json();
    const response = await read(id, 'refund_processing');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.customer).toEqual({
      name: request.customer.name,
      email: request.customer.email,
      phone: request.customer.phone,
      address: request.customer.address,
    });
    expect(body.items[0].comment).toBe('Trop petit pour read');
    expect(body.items[1].comment).toBeNull();
    expect(body.refund.iban).toBe('FR1420041010050500013M02606');
    expect(body.events).toEqual([]);
    expect(body.erasedAt).toBeNull();
    const audits = await t.database.sql`
      select purpose, outcome, subject_ref, details::text as details from audit_events
      where action = 'return.read' and target_id = ${id}`;
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ purpose: 'refund_processing', outcome: 'success' });
    expect(audits[0]!.details).not.toContain('Vauquelin');
  });

  it('withholds the data categories a purpose does not cover', async () => {
    const { id } = (await createReturnVia(t, returnRequest({}, 'withheld'))).json();
    const body = (await read(id, 'customer_support')).json();
    expect(body.customer.email).toBe('zoe.vauquelin.withheld@example.org');
    expect(body.refund.iban).toBeNull();
    expect(body.withheldCategories).toEqual(['payment']);
  });

  it('requires a declared purpose (400) and refuses states the purpose may not read (403)', async () => {
    const { id } = (await createReturnVia(t, returnRequest({}, 'purpose'))).json();
    const missing = await read(id, undefined);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('purpose_required');
    const unknown = await read(id, 'marketing');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().code).toBe('purpose_unknown');

    await t.database
      .sql`update returns set data_state = 'restricted', restricted_at = now() where id = ${id}`;
    const restricted = await read(id, 'customer_support');
    expect(restricted.statusCode).toBe(403);
    expect(restricted.json()).toMatchObject({ code: 'purpose_not_allowed', dataState: 'restricted' });
    expect(restricted.body).not.toContain('Vauquelin');
    expect((await read(id, 'legal_claim')).statusCode).toBe(200);
    const [denial] = await t.database.sql`
      select outcome from audit_events where action = 'return.read' and target_id = ${id} and outcome = 'denied'`;
    expect(denial).toBeDefined();

    await t.database.sql`update returns set data_state = 'archived', archived_at = now() where id = ${id}`;
    expect((await read(id, 'refund_processing')).statusCode).toBe(403);
    const archived = await read(id, 'legal_claim');
    expect(archived.statusCode).toBe(200);
    expect(archived.json().customer.name).toBe('Zoé Vauquelin-purpose');
  });

  it('answers an erased return with its personal fields null and erasedAt set', async () => {
    const { id } = (await createReturnVia(t, returnRequest({}, 'erased'))).json();
    await t.database.sql`
      update returns set customer_name_enc = null, customer_email_enc = null, customer_phone_enc = null,
        address_line1_enc = null, address_line2_enc = null, postal_code_enc = null, city_enc = null,
        item_comments_enc = null, iban_enc = null, erased_at = now(), data_state = 'archived'
      where id = ${id}`;
    const response = await read(id, 'customer_support');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.erasedAt).not.toBeNull();
    expect(body.customer).toEqual({
      name: null,
      email: null,
      phone: null,
      address: { line1: null, line2: null, postalCode: null, city: null, country: 'FR' },
    });
    expect(body.items[0].comment).toBeNull();
    expect(body.items[0].sku).toBe('SKU-1');
  });

  it('reads null for a class whose key was destroyed (crypto-shredded)', async () => {
    const { id } = (await createReturnVia(t, returnRequest({}, 'shredded'))).json();
    await t.database.sql`
      update subject_data_keys set wrapped_key = null, kek_version = null, destroyed_at = now()
      where data_class = 'payment' and subject_id = (select subject_id from returns where id = ${id})`;
    const body = (await read(id, 'refund_processing')).json();
    expect(body.refund.iban).toBeNull();
    expect(body.customer.name).toBe('Zoé Vauquelin-shredded');
  });

  it("finds a subject's returns by e-mail through the blind index, whatever the case", async () => {
    const first = (await createReturnVia(t, returnRequest({ orderRef: 'ORD-x1' }, 'lookup'))).json();
    const second = (await createReturnVia(t, returnRequest({ orderRef: 'ORD-x2' }, 'lookup'))).json();
    const [a] = await t.database.sql`select subject_id from returns where id = ${first.id}`;
    const [b] = await t.database.sql`select subject_id from returns where id = ${second.id}`;
    expect(a!.subject_id).toBe(b!.subject_id);
    const response = await t.app.inject({
      url: `/v1/returns?email=${encodeURIComponent('Zoe.Vauquelin.LOOKUP@example.org')}`,
      headers: { ...bearer(supportToken), 'x-purpose': 'customer_support' },
    });
    expect(response.statusCode).toBe(200);
    expect(
      response
        .json()
        .items.map((item: { id: string }) => item.id)
        .sort(),
    ).toEqual([first.id, second.id].sort());
    // Each read is recorded with what the purpose could not see, as a read by id is.
    const reads = await t.database.sql`
      select details from audit_events where action = 'return.read' and target_id in ${t.database.sql([first.id, second.id])}`;
    expect(reads.map((row) => row.details)).toEqual([
      { via: 'email_lookup', withheld: ['payment'], erased: false },
      { via: 'email_lookup', withheld: ['payment'], erased: false },
    ]);
    const none = await t.app.inject({
      url: '/v1/returns?email=nobody%40example.org',
      headers: { ...bearer(supportToken), 'x-purpose': 'customer_support' },
    });
    expect(none.json()).toEqual({ items: [], withheld: 0 });
    const [search] = await t.database.sql`
      select count(*)::int as n from audit_events where action = 'return.search'`;
    expect(search!.n).toBe(2);
    const bad = await t.app.inject({
      url: '/v1/returns?email=not-an-email',
      headers: { ...bearer(supportToken), 'x-purpose': 'customer_support' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toContain('not-an-email');
    const noPurpose = await t.app.inject({
      url: '/v1/returns?email=a%40example.org',
      headers: bearer(supportToken),
    });
    expect(noPurpose.json().code).toBe('purpose_required');
  });

  it('documents the returns routes in the OpenAPI document', async () => {
    const document = (await t.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/returns', '/v1/returns/{id}', '/v1/returns/{id}/events']),
    );
    expect(document.paths['/v1/returns'].post.responses['422']).toBeDefined();
    expect(document.paths['/v1/returns/{id}/events'].post.responses['409']).toBeDefined();
  });

  it('answers 401 without a token, 403 without the scope, 404 for an unknown id', async () => {
    const noToken = await t.app.inject({ method: 'POST', url: '/v1/returns', payload: returnRequest() });
    expect(noToken.statusCode).toBe(401);
    const merchant = await t.token('merchant');
    const readWithoutScope = await read('00000000-0000-4000-8000-000000000000', 'customer_support', merchant);
    expect(readWithoutScope.statusCode).toBe(403);
    const backend = await t.token('backend');
    const createWithoutScope = await t.app.inject({
      method: 'POST',
      url: '/v1/returns',
      headers: bearer(backend),
      payload: returnRequest(),
    });
    expect(createWithoutScope.statusCode).toBe(403);
    const unknown = await read('00000000-0000-4000-8000-000000000000', 'customer_support');
    expect(unknown.statusCode).toBe(404);
    expect((await read('not-a-uuid', 'customer_support')).statusCode).toBe(400);
  });

  it("isolates merchants: other merchants' returns are 404, creating for another merchant is 403", async () => {
    const { id } = (await createReturnVia(t, returnRequest({ merchantId: 'm-200' }, 'iso'), 'm-200')).json();
    const otherRead = await t.token('support', { merchantId: 'm-300' });
    expect((await read(id, 'customer_support', otherRead)).statusCode).toBe(404);
    const ownRead = await t.token('support', { merchantId: 'm-200' });
    expect((await read(id, 'customer_support', ownRead)).statusCode).toBe(200);
    const event = await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${id}/events`,
      headers: bearer(otherRead),
      payload: { type: 'label_created', occurredAt: new Date().toISOString() },
    });
    expect(event.statusCode).toBe(404);
    const lookup = await t.app.inject({
      url: `/v1/returns?email=${encodeURIComponent('zoe.vauquelin.iso@example.org')}`,
      headers: { ...bearer(otherRead), 'x-purpose': 'customer_support' },
    });
    expect(lookup.json().items).toEqual([]);
    const forbidden = await createReturnVia(t, returnRequest({ merchantId: 'm-200' }, 'iso2'), 'm-300');
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('forbidden');
  });

  it('refuses an ineligible return with 422 and reasons, and keeps nothing personal', async () => {
    const subjectsBefore = (await t.database.sql`select count(*)::int as n from subjects`)[0]!.n;
    const returnsBefore = (await t.database.sql`select count(*)::int as n from returns`)[0]!.n;
    const keysBefore = (await t.database.sql`select count(*)::int as n from subject_data_keys`)[0]!.n;
    const late = await createReturnVia(t, returnRequest({ deliveredAt: daysAgo(40) }, 'late'));
    expect(late.statusCode).toBe(422);
    expect(late.json()).toMatchObject({
      code: 'return_not_eligible',
      reasons: ['withdrawal_period_expired'],
    });
    const tooBig = await createReturnVia(
      t,
      returnRequest({ parcel: { weightGrams: 31_000, lengthMm: 400, widthMm: 300, heightMm: 300 } }, 'big'),
    );
    expect(tooBig.statusCode).toBe(422);
    expect(tooBig.json().reasons).toEqual([
      'parcel_too_large_for_letterbox',
      'parcel_too_heavy_for_letterbox',
    ]);
    expect(tooBig.body).not.toContain('Vauquelin');
    expect((await t.database.sql`select count(*)::int as n from subjects`)[0]!.n).toBe(subjectsBefore);
    expect((await t.database.sql`select count(*)::int as n from returns`)[0]!.n).toBe(returnsBefore);
    expect((await t.database.sql`select count(*)::int as n from subject_data_keys`)[0]!.n).toBe(keysBefore);
    const [denied] = await t.database.sql`
      select count(*)::int as n from audit_events where action = 'return.create' and outcome = 'denied'`;
    expect(denied!.n).toBe(2);
    // The same big parcel is fine at the post office, and a late return is fine without withdrawal information.
    const postOffice = await createReturnVia(
      t,
      returnRequest(
        {
          method: 'post_office',
          parcel: { weightGrams: 31_000, lengthMm: 400, widthMm: 300, heightMm: 300 },
        },
        'po',
      ),
    );
    expect(postOffice.statusCode).toBe(201);
    const noInfo = await createReturnVia(
      t,
      returnRequest({ deliveredAt: daysAgo(40), withdrawalInfoGiven: false }, 'noinfo'),
    );
    expect(noInfo.statusCode).toBe(201);
  });

  it('validates every field strictly, naming paths without echoing values', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      [
        'bad e-mail',
        { customer: { ...returnRequest().customer, email: 'zoe-at-example' } },
        'body.customer.email',
      ],
      [
        'bad phone',
        { customer: { ...returnRequest().customer, phone: '0612345678' } },
        'body.customer.phone',
      ],
      [
        'bad postal code',
        {
          customer: {
            ...returnRequest().customer,
            address: { ...returnRequest().customer.address, postalCode: '7500' },
          },
        },
        'body.customer.address.postalCode',
      ],
      [
        'bad IBAN checksum',
        { refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02607' } },
        'body.refund.iban',
      ],
      ['bank transfer without IBAN', { refund: { method: 'bank_transfer' } }, 'body.refund.iban'],
      [
        'IBAN not needed',
        { refund: { method: 'original_payment', iban: 'FR1420041010050500013M02606' } },
        'body.refund.iban',
      ],
      [
        'future delivery',
        { deliveredAt: new Date(Date.now() + 86_400_000).toISOString() },
        'body.deliveredAt',
      ],
      ['notified before delivery', { notifiedAt: daysAgo(5) }, 'body.notifiedAt'],
      // The order of the two dates is checked only once both parse (this was a 500).
      ['malformed notification date', { notifiedAt: '2026-06-01' }, 'body.notifiedAt'],
      ['malformed delivery date', { deliveredAt: 'yesterday', notifiedAt: daysAgo(1) }, 'body.deliveredAt'],
      [
        'zero quantity',
        { items: [{ sku: 'S', quantity: 0, unitPriceCents: 1, reason: 'other' }] },
        'body.items.0.quantity',
      ],
      ['no items', { items: [] }, 'body.items'],
      [
        'too many items',
        {
          items: Array.from({ length: 101 }, () => ({
            sku: 'S',
            quantity: 1,
            unitPriceCents: 1,
            reason: 'other',
          })),
        },
        'body.items',
      ],
      ['mailbox without parcel', { parcel: undefined }, 'body.parcel'],
      ['unknown field', { loyaltyCard: '123' }, 'body'],
      [
        'long name',
        { customer: { ...returnRequest().customer, name: 'x'.repeat(201) } },
        'body.customer.name',
      ],
      [
        'unknown country',
        {
          customer: {
            ...returnRequest().customer,
            address: { ...returnRequest().customer.address, country: 'XX' },
          },
        },
        'body.customer.address.country',
      ],
    ];
    for (const [label, override, path] of cases) {
      const response = await createReturnVia(t, returnRequest(override, 'invalid'));
      expect(response.statusCode, label).toBe(400);
      const body = response.json();
      expect(body.code, label).toBe('validation_failed');
      expect(
        body.errors.map((error: { path: string }) => error.path),
        label,
      ).toContain(path);
      for (const secret of [
        'zoe-at-example',
        '0612345678',
        'FR1420041010050500013M0260',
        'Vauquelin',
        'xxxxxxxxxx',
      ]) {
        expect(response.body, label).not.toContain(secret);
      }
    }
  });

  it('accepts postal codes of other countries and IBANs with spaces', async () => {
    const base = returnRequest({}, 'eu');
    const addresses = [
      ['BE', '1000'],
      ['DE', '10115'],
      ['ES', '28013'],
      ['IT', '00184'],
      ['NL', '1012 AB'],
      ['LU', 'L-1111'],
      ['PT', '1100-148'],
      ['AT', '1010'],
      ['IE', 'D02 X285'],
      ['CH', '8001'],
    ];
    for (const [country, postalCode] of addresses) {
      const response = await createReturnVia(t, {
        ...base,
        orderRef: `ORD-${country}`,
        customer: { ...base.customer, address: { ...base.customer.address, country, postalCode } },
        refund: { method: 'bank_transfer', iban: 'DE89 3704 0044 0532 0130 00' },
      });
      expect(response.statusCode, country).toBe(201);
    }
  });
});
