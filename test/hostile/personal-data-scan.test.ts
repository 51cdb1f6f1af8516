import { beforeAll, describe, expect, it } from 'vitest';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { reportHostile } from '../support/hostile-summary';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

const tags = ['scan1', 'scan2', 'scan3', 'scan4', 'scan5'];
const rectified = { name: 'Honorine Rectifiée-scan2', email: 'honorine.rectifiee.scan2@example.org' };
/** Reasons written by the DPO that name the person (Art. 12(3), 12(4), a hold). */
const reasons = {
  hold: 'Litige en cours avec Apolline Reason-scan4',
  extension: 'Dossier de Barnabé Reason-scan1 réparti sur plusieurs marchands',
  rejection: 'Identité de Céleste Reason-scan3 non établie',
};

/** The personal values the workload stores; postal codes are left out (digits recur in ids). */
function personalValues(): string[] {
  const values = tags.flatMap((tag) => {
    const body = returnRequest({}, tag);
    return [
      body.customer.name,
      body.customer.email,
      body.customer.address.line1,
      body.customer.address.line2,
      body.customer.address.city,
      body.items[0]!.comment!,
    ];
  });
  return [
    ...values,
    returnRequest().customer.phone,
    returnRequest().refund.iban,
    rectified.name,
    rectified.email,
    ...Object.values(reasons),
  ];
}

/** A value as it would look in a text dump of a row: itself, or hex inside a bytea column. */
function needles(value: string): string[] {
  return [value, Buffer.from(value, 'utf8').toString('hex')];
}

describe('a scan of the whole database and of every log line after a workload over every capability', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'debug' } });
    const ids: string[] = [];
    for (const tag of tags) {
      const response = await createReturnVia(t, returnRequest({}, tag));
      expect(response.statusCode).toBe(201);
      ids.push(response.json().id);
    }
    const support = bearer(await t.token('support'));
    const dpo = bearer(await t.token('dpo'));
    for (const id of ids) {
      expect(
        (
          await t.app.inject({
            url: `/v1/returns/${id}`,
            headers: { ...support, 'x-purpose': 'customer_support' },
          })
        ).statusCode,
      ).toBe(200);
      await t.app.inject({
        method: 'POST',
        url: `/v1/returns/${id}/events`,
        headers: support,
        payload: { carrierCode: 'ECHCFM', occurredAt: new Date().toISOString(), carrier: 'colissimo' },
      });
    }
    const byEmail = await t.app.inject({
      url: `/v1/returns?email=${encodeURIComponent(returnRequest({}, 'scan1').customer.email)}`,
      headers: { ...support, 'x-purpose': 'customer_support' },
    });
    expect(byEmail.statusCode).toBe(200);

    const backend = bearer(await t.token('backend', { clientId: 'analytics' }));
    expect(
      (await t.app.inject({ url: '/v1/pseudonymized/returns?limit=1000', headers: backend })).statusCode,
    ).toBe(200);

    const request = async (payload: Record<string, unknown>) => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/subject-requests',
        headers: dpo,
        payload,
      });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().id as string;
      await t.app.inject({
        method: 'POST',
        url: `/v1/subject-requests/${id}/verify`,
        headers: dpo,
        payload: { method: 'document' },
      });
      const executed = await t.app.inject({
        method: 'POST',
        url: `/v1/subject-requests/${id}/execute`,
        headers: dpo,
      });
      expect(executed.statusCode, executed.body).toBeLessThan(300);
      return id;
    };
    const access = await request({ type: 'access', email: returnRequest({}, 'scan1').customer.email });
    expect(
      (await t.app.inject({ url: `/v1/subject-requests/${access}/package`, headers: dpo })).statusCode,
    ).toBe(200);
    await request({
      type: 'rectification',
      email: returnRequest({}, 'scan2').customer.email,
      changes: rectified,
    });
    await request({ type: 'restriction', email: returnRequest({}, 'scan3').customer.email });
    await t.app.inject({
      method: 'POST',
      url: '/v1/legal-holds',
      headers: dpo,
      payload: { email: returnRequest({}, 'scan4').customer.email, reason: reasons.hold },
    });
    const decided = async (email: string, action: 'extend' | 'reject', reason: string) => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/subject-requests',
        headers: dpo,
        payload: { type: 'access', email },
      });
      const decision = await t.app.inject({
        method: 'POST',
        url: `/v1/subject-requests/${created.json().id}/${action}`,
        headers: dpo,
        payload: { reason },
      });
      expect(decision.statusCode, decision.body).toBe(200);
    };
    await decided(returnRequest({}, 'scan1').customer.email, 'extend', reasons.extension);
    await decided(returnRequest({}, 'scan3').customer.email, 'reject', reasons.rejection);
    await request({ type: 'erasure', email: returnRequest({}, 'scan4').customer.email });
    await request({ type: 'erasure', email: returnRequest({}, 'scan5').customer.email });
    await t.app.inject({ method: 'POST', url: '/v1/retention/run', headers: dpo, payload: { dryRun: true } });
    const auditor = bearer(await t.token('auditor'));
    expect((await t.app.inject({ url: '/v1/audit/events?format=csv', headers: auditor })).statusCode).toBe(
      200,
    );
  }, 240_000);

  it('finds no stored personal value in clear in any column of any table', async () => {
    const tables = await t.database.sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name from information_schema.tables
      where table_schema in ('public', 'drizzle') and table_type = 'BASE TABLE'`;
    expect(tables.length).toBeGreaterThan(10);
    const values = personalValues();
    const leaks: string[] = [];
    for (const table of tables) {
      const rows = await t.database.sql.unsafe(
        `select t::text as row from "${table.schema}"."${table.name}" t`,
      );
      const dump = rows.map((row) => String(row.row)).join('\n');
      for (const value of values) {
        if (needles(value).some((needle) => dump.includes(needle))) leaks.push(`${table.name}: ${value}`);
      }
    }
    expect(leaks).toEqual([]);
    reportHostile(`database scan: ${tables.length} tables, ${values.length} personal values, none in clear`);
  });

  it('finds none in the log lines, even at debug level', () => {
    const logs = t.logs.join('');
    expect(logs.length).toBeGreaterThan(1000);
    const leaks = personalValues().filter((value) => logs.includes(value));
    expect(leaks).toEqual([]);
  });
});
