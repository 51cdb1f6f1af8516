import { beforeAll, describe, expect, it } from 'vitest';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { reportHostile } from '../support/hostile-summary';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

const tags = ['scan1', 'scan2', 'scan3', 'scan4', 'scan5'];
const rectified = { name: 'Honorine Rectifiée-scan2', email: 'honorine.rectifiee.scan2@example.org' };

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
      payload: { email: returnRequest({}, 'scan4').customer.email, reason: 'pending dispute' },
    });
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
