import { beforeAll, describe, expect, it } from 'vitest';
import { runSequencerOnce } from '../../src/audit/sequencer';
import { returnFor } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

/** The shared field schemas (src/http/request-fields.ts), through every route that takes them. */
describe('date-time and free-text fields', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  let auditor: Record<string, string>;
  let returnId: string;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
    auditor = bearer(await t.token('auditor'));
    returnId = (await returnFor(t, 'fields1')).id;
  });

  const post = (url: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url, headers: dpo, payload });

  function expectFieldError(response: { statusCode: number; json(): { errors?: unknown } }, path: string) {
    expect(response.statusCode, JSON.stringify(response.json())).toBe(400);
    expect(response.json().errors).toContainEqual(expect.objectContaining({ path }));
  }

  const outOfRange = [
    '2025-01-01T00:00:00+16:00', // PostgreSQL refuses offsets beyond ±15:59
    '2025-01-01T00:00:00-14:30',
    '9999-12-31T23:00:00-02:00', // year 10000 in UTC
  ];

  it.each(outOfRange)('refuses %s in every date-time field with a 400 naming it', async (value) => {
    const query = encodeURIComponent(value);
    expectFieldError(
      await t.app.inject({ url: `/v1/audit/events?from=${query}`, headers: auditor }),
      'query.from',
    );
    expectFieldError(
      await t.app.inject({ url: `/v1/audit/export?to=${query}`, headers: auditor }),
      'query.to',
    );
    expectFieldError(
      await t.app.inject({ url: `/v1/retention/preview?asOf=${query}`, headers: dpo }),
      'query.asOf',
    );
    expectFieldError(await post('/v1/retention/run', { dryRun: true, asOf: value }), 'body.asOf');
    expectFieldError(
      await post('/v1/legal-holds', { returnId, reason: 'dispute', until: value }),
      'body.until',
    );
    expectFieldError(
      await post('/v1/subject-requests', { type: 'access', email: 'fields@example.org', receivedAt: value }),
      'body.receivedAt',
    );
  });

  it('refuses a date before 2000 where one is stored or computed as of, with a 400 naming the field', async () => {
    expectFieldError(
      await t.app.inject({ url: '/v1/retention/preview?asOf=1970-01-01', headers: dpo }),
      'query.asOf',
    );
    expectFieldError(
      await post('/v1/retention/run', { dryRun: true, asOf: '1999-12-31T23:59:59Z' }),
      'body.asOf',
    );
    expectFieldError(
      await post('/v1/legal-holds', { returnId, reason: 'dispute', until: '1999-12-31T23:59:59Z' }),
      'body.until',
    );
  });

  it('takes an audit window from 1970 (the epoch: "from the start"), not before', async () => {
    const from1970 = await t.app.inject({ url: '/v1/audit/events?from=1970-01-01', headers: auditor });
    expect(from1970.statusCode, from1970.body).toBe(200);
    expectFieldError(
      await t.app.inject({ url: '/v1/audit/events?from=1969-12-31T23:59:59Z', headers: auditor }),
      'query.from',
    );
    expectFieldError(
      await t.app.inject({ url: '/v1/audit/events?from=0000-01-01', headers: auditor }),
      'query.from',
    );
  });

  it('still takes the widest offsets in use and the last instant of year 9999', async () => {
    const from = encodeURIComponent('2025-01-01T00:00:00+14:00');
    expect((await t.app.inject({ url: `/v1/audit/events?from=${from}`, headers: auditor })).statusCode).toBe(
      200,
    );
    const preview = await t.app.inject({
      url: `/v1/retention/preview?asOf=${encodeURIComponent('9999-12-31T23:59:59Z')}`,
      headers: dpo,
    });
    expect(preview.statusCode).toBe(200);
    const hold = await post('/v1/legal-holds', {
      returnId,
      reason: 'dispute',
      until: '9999-12-31T12:00:00-11:00',
    });
    expect(hold.statusCode).toBe(201);
  });

  it('refuses a subject request received before the GDPR applied or in the future', async () => {
    const create = (receivedAt: string) =>
      post('/v1/subject-requests', { type: 'access', email: 'fields@example.org', receivedAt });
    for (const receivedAt of ['0050-06-01T00:00:00Z', '2018-05-24T23:59:59Z']) {
      expectFieldError(await create(receivedAt), 'body.receivedAt');
    }
    expectFieldError(await create(new Date(Date.now() + 86_400_000).toISOString()), 'body.receivedAt');
    expect((await create('2018-05-25T00:00:00Z')).statusCode).toBe(201);
  });

  const nul = 'tribunal\u0000de Lyon';

  it('takes a reason written over several lines', async () => {
    const hold = await post('/v1/legal-holds', { returnId, reason: 'Litige en cours\n\tréf. 2026-114\r\n' });
    expect(hold.statusCode, hold.body).toBe(201);
    const created = await post('/v1/subject-requests', { type: 'access', email: 'lines@example.org' });
    const rejected = await post(`/v1/subject-requests/${created.json().id}/reject`, {
      reason: 'Identité non vérifiée.\nMerci de nous écrire.',
    });
    expect(rejected.statusCode, rejected.body).toBe(200);
  });

  it('refuses control characters in a legal hold reason, naming the field', async () => {
    expectFieldError(await post('/v1/legal-holds', { returnId, reason: nul }), 'body.reason');
  });

  it('refuses control characters in a subject request reason, naming the field', async () => {
    const created = await post('/v1/subject-requests', { type: 'access', email: 'reason@example.org' });
    const id = created.json().id as string;
    expectFieldError(await post(`/v1/subject-requests/${id}/extend`, { reason: nul }), 'body.reason');
    expectFieldError(await post(`/v1/subject-requests/${id}/reject`, { reason: nul }), 'body.reason');
  });

  it('names query fields query.x in errors raised after validation', async () => {
    // Two audited reads, so the signed tree holds at least two events whatever ran before.
    for (let read = 0; read < 2; read += 1) await t.app.inject({ url: '/v1/audit/events', headers: auditor });
    await runSequencerOnce(t.database, t.app.signer);
    const response = await t.app.inject({
      url: '/v1/audit/proofs/consistency?from=5&to=2',
      headers: auditor,
    });
    expectFieldError(response, 'query.from');
  });
});
