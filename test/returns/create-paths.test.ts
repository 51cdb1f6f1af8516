import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmailBlindIndex } from '../../src/crypto/blind-index';
import { intakeKeyset, newSubject } from '../../src/crypto/intake-keyset';
import { openDatabase } from '../../src/db/database';
import { timeOrderedUuid } from '../../src/db/time-ordered-uuid';
import { insertReturnOfNewSubject } from '../../src/returns/return-repository';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturnVia, plainReturnRow, returnRequest } from './return-fixtures';

/**
 * A return from an e-mail never seen is stored by one statement (subject, keys, return, audit event,
 * webhook announcement); a known e-mail takes the transactional path under its subject's keys.
 */
describe('creating returns: the one-statement path and the known-subject path', () => {
  let t: TestApp;
  let supportToken: string;
  beforeAll(async () => {
    t = await createTestApp();
    supportToken = await t.token('support');
  });

  const read = async (id: string) => {
    const response = await t.app.inject({
      url: `/v1/returns/${id}`,
      headers: { ...bearer(supportToken), 'x-purpose': 'refund_processing' },
    });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const subjectOf = async (id: string) =>
    (await t.database.sql<{ subject_id: string }[]>`select subject_id from returns where id = ${id}`)[0]!
      .subject_id;
  const keyClassesOf = async (subjectId: string) =>
    (
      await t.database.sql<{ data_class: string }[]>`
        select data_class from subject_data_keys
        where subject_id = ${subjectId} and wrapped_key is not null and kek_version is not null
        order by data_class`
    ).map((key) => key.data_class);
  const announcements = (id: string) => t.database.sql<{ data: { returnId: string; status: string } }[]>`
    select data from webhook_events where type = 'return.created' and data->>'returnId' = ${id}`;
  const createAudits = (id: string) => t.database.sql<{ subject_ref: string; details: unknown }[]>`
    select subject_ref, details from audit_events where action = 'return.create' and target_id = ${id}`;

  it('stores a new e-mail with its subject, keys, return, audit event and announcement', async () => {
    const request = returnRequest({}, 'fresh');
    const response = await createReturnVia(t, request);
    expect(response.statusCode).toBe(201);
    const { id } = response.json();
    const subjectId = await subjectOf(id);
    expect(await keyClassesOf(subjectId)).toEqual(['contact', 'payment']);
    expect(await createAudits(id)).toEqual([
      { subject_ref: subjectId, details: { merchantId: 'm-100', items: 2 } },
    ]);
    expect((await announcements(id)).map((event) => event.data.status)).toEqual(['created']);
    const [row] = await t.database.sql`
      select jsonb_typeof(parcel) as parcel, total_cents, method, withdrawal_info_given,
        to_json(delivered_at) #>> '{}' as delivered_at, withdrawal_deadline::text
      from returns where id = ${id}`;
    expect(row).toMatchObject({
      parcel: 'object',
      total_cents: '7999',
      method: 'mailbox',
      withdrawal_info_given: true,
      withdrawal_deadline: response.json().withdrawalDeadline,
    });
    expect(new Date(row!.delivered_at).toISOString()).toBe(request.deliveredAt);
    const body = await read(id);
    expect(body.customer.name).toBe(request.customer.name);
    expect(body.refund.iban).toBe(request.refund.iban);
  });

  it('stores absent values as SQL NULL: no parcel, no second address line, no IBAN', async () => {
    const request = returnRequest(
      { method: 'post_office', parcel: undefined, refund: { method: 'original_payment' } },
      'nulls',
    );
    delete (request.customer.address as { line2?: string }).line2;
    const { id } = (await createReturnVia(t, request)).json();
    const [row] = await t.database.sql`
      select parcel is null as no_parcel, address_line2_enc is null as no_line2, iban_enc is null as no_iban
      from returns where id = ${id}`;
    expect(row).toEqual({ no_parcel: true, no_line2: true, no_iban: true });
    expect(await keyClassesOf(await subjectOf(id))).toEqual(['contact']);
  });

  it("encrypts a known e-mail's return under its subject's keys, adding a first payment key", async () => {
    const first = returnRequest({ refund: { method: 'original_payment' } }, 'known');
    const second = {
      ...returnRequest({ orderRef: 'ORD-known-2' }, 'known'),
      customer: { ...first.customer, email: first.customer.email.toUpperCase() },
    };
    const a = (await createReturnVia(t, first)).json();
    const b = (await createReturnVia(t, second)).json();
    const subjectId = await subjectOf(a.id);
    expect(await subjectOf(b.id)).toBe(subjectId);
    expect(await keyClassesOf(subjectId)).toEqual(['contact', 'payment']);
    const body = await read(b.id);
    expect(body.customer.name).toBe(first.customer.name);
    expect(body.refund.iban).toBe(second.refund.iban);
    expect((await read(a.id)).customer.name).toBe(first.customer.name);
    expect(await createAudits(b.id)).toEqual([
      { subject_ref: subjectId, details: { merchantId: 'm-100', items: 2 } },
    ]);
    expect(await announcements(b.id)).toHaveLength(1);
  });

  it('ends concurrent creates for one new e-mail on one subject, each return readable', async () => {
    const requests = Array.from({ length: 6 }, (_, n) =>
      returnRequest({ orderRef: `ORD-race-${n}` }, 'race'),
    );
    const responses = await Promise.all(requests.map((request) => createReturnVia(t, request)));
    expect(responses.map((response) => response.statusCode)).toEqual(requests.map(() => 201));
    const ids = responses.map((response) => response.json().id as string);
    const subjects = new Set(await Promise.all(ids.map(subjectOf)));
    expect(subjects.size).toBe(1);
    expect(await keyClassesOf([...subjects][0]!)).toEqual(['contact', 'payment']);
    for (const id of ids) {
      expect((await read(id)).customer.name).toBe(requests[0]!.customer.name);
      expect(await createAudits(id)).toHaveLength(1);
      expect(await announcements(id)).toHaveLength(1);
    }
    // The statements that lost the race wrote no subject of their own.
    const [orphans] = await t.database.sql`
      select count(*)::int as n from subjects
      where not exists (select 1 from returns where returns.subject_id = subjects.id)`;
    expect(orphans!.n).toBe(0);
  });

  it('finds a subject indexed under an older blind-index key, writing nothing new', async () => {
    const request = returnRequest({}, 'rotated');
    const { id } = (await createReturnVia(t, request)).json();
    const subjectId = await subjectOf(id);
    const rotated = new EmailBlindIndex([
      ...t.config.blindIndexKeys,
      { version: 'v-next', key: randomBytes(32) },
    ]);
    const email = request.customer.email;
    const candidate = newSubject(rotated, t.app.keyring, email, ['contact']);
    const row = plainReturnRow(timeOrderedUuid(), candidate.keyset.subjectId, 'ORD-rotated-2');
    expect(
      await insertReturnOfNewSubject(t.app.database.db, candidate, row, { context: {}, details: {} }),
    ).toBe(false);
    const keys = await intakeKeyset(t.app.database.db, rotated, t.app.keyring, email, candidate);
    expect(keys.subjectId).toBe(subjectId);
    const [written] = await t.database.sql`
      select (select count(*) from subjects where id = ${candidate.keyset.subjectId})::int as subjects,
        (select count(*) from returns where id = ${row.id})::int as returns`;
    expect(written).toEqual({ subjects: 0, returns: 0 });
  });

  it('runs the one statement on a generic plan once prepared, not planned anew on every create', async () => {
    // One connection, so the statement it prepared is the one pg_prepared_statements shows.
    const single = openDatabase(t.database.url, { maxConnections: 1 });
    try {
      for (let n = 0; n < 8; n++) {
        const subject = newSubject(t.app.emailIndex, t.app.keyring, `plan.${n}@example.org`, ['contact']);
        const row = plainReturnRow(timeOrderedUuid(), subject.keyset.subjectId, `ORD-plan-${n}`);
        expect(await insertReturnOfNewSubject(single.db, subject, row, { context: {}, details: {} })).toBe(
          true,
        );
      }
      const [plans] = await single.sql<{ generic_plans: string; custom_plans: string }[]>`
        select generic_plans, custom_plans from pg_prepared_statements
        where statement like '%new_return as%'`;
      expect(Number(plans!.generic_plans)).toBeGreaterThan(0);
      expect(Number(plans!.custom_plans)).toBeLessThanOrEqual(5);
    } finally {
      await single.close();
    }
  });

  it('refuses a row that was not encrypted for the new subject', async () => {
    const candidate = newSubject(t.app.emailIndex, t.app.keyring, 'mismatch@example.org', ['contact']);
    const row = plainReturnRow(timeOrderedUuid(), timeOrderedUuid(), 'ORD-mismatch');
    await expect(
      insertReturnOfNewSubject(t.app.database.db, candidate, row, { context: {}, details: {} }),
    ).rejects.toThrow(/not encrypted for this new subject/);
  });

  it('writes nothing when the one statement fails: no subject, key, audit event or announcement', async () => {
    const { id } = (await createReturnVia(t, returnRequest({}, 'taken'))).json();
    const subject = newSubject(t.app.emailIndex, t.app.keyring, 'someone.new@example.org', ['contact']);
    // The same return id again: the insert fails on the primary key, after the subject's CTEs ran.
    const row = plainReturnRow(id, subject.keyset.subjectId, 'ORD-taken-again');
    await expect(
      insertReturnOfNewSubject(t.app.database.db, subject, row, { context: {}, details: {} }),
    ).rejects.toThrow(/returns_pkey|duplicate key/);
    const [left] = await t.database.sql`
      select (select count(*) from subjects where id = ${subject.keyset.subjectId})::int as subjects,
        (select count(*) from subject_data_keys where subject_id = ${subject.keyset.subjectId})::int as keys,
        (select count(*) from audit_events where action = 'return.create' and target_id = ${id})::int as audits,
        (select count(*) from webhook_events where data->>'returnId' = ${id})::int as announcements`;
    expect(left).toEqual({ subjects: 0, keys: 0, audits: 1, announcements: 1 });
  });
});
