import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { createReturnVia, daysAgo, returnRequest } from './return-fixtures';

/**
 * After storing returns through every path (intake, events with tracking details, reads, lookups and
 * refusals), no stored personal value is found in clear in any table, nor in the logs.
 */
describe('no personal data in clear', () => {
  let t: TestApp;
  const secrets: string[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    const support = await t.token('support');
    for (const tag of ['p1', 'p2']) {
      const request = returnRequest(
        {
          customer: {
            name: `Éloïse Marchetti-${tag}`,
            email: `eloise.marchetti.${tag}@example.net`,
            phone: '+33698765432',
            address: {
              line1: `42 Keizersgracht ${tag}`,
              line2: `Appartement Zénith ${tag}`,
              postalCode: '3511 LX',
              city: `Utrecht-Verborgen-${tag}`,
              country: 'NL',
            },
          },
          items: [
            {
              sku: 'SKU-9',
              quantity: 1,
              unitPriceCents: 2500,
              reason: 'defective',
              comment: `Écran fêlé ${tag}`,
            },
          ],
          refund: { method: 'bank_transfer', iban: 'NL91ABNA0417164300' },
        },
        tag,
      );
      secrets.push(
        request.customer.name,
        request.customer.email,
        request.customer.phone,
        request.customer.address.line1,
        request.customer.address.line2,
        request.customer.address.postalCode,
        request.customer.address.city,
        request.items[0]!.comment!,
        request.refund.iban!,
        `Relais Colis Cachette ${tag}`,
        `Signature de Mme Marchetti ${tag}`,
      );
      const created = await createReturnVia(t, request);
      expect(created.statusCode).toBe(201);
      const { id } = created.json();
      const event = await t.app.inject({
        method: 'POST',
        url: `/v1/returns/${id}/events`,
        headers: bearer(support),
        payload: {
          carrierCode: 'ECHCFM',
          occurredAt: daysAgo(1),
          location: `Relais Colis Cachette ${tag}`,
          proof: `Signature de Mme Marchetti ${tag}`,
        },
      });
      expect(event.statusCode).toBe(201);
      const read = await t.app.inject({
        url: `/v1/returns/${id}`,
        headers: { ...bearer(support), 'x-purpose': 'legal_claim' },
      });
      expect(read.json().events[0].proof).toBe(`Signature de Mme Marchetti ${tag}`);
      const lookup = await t.app.inject({
        url: `/v1/returns?email=${encodeURIComponent(request.customer.email)}`,
        headers: { ...bearer(support), 'x-purpose': 'refund_processing' },
      });
      expect(lookup.json().items).toHaveLength(1);
      // A refused return and an invalid one go through the logs too.
      expect((await createReturnVia(t, { ...request, deliveredAt: daysAgo(60) })).statusCode).toBe(422);
      expect((await createReturnVia(t, { ...request, method: 'teleport' })).statusCode).toBe(400);
    }
  });

  it('finds none of the stored values in any column of any table, in clear or hex', async () => {
    const tables = await t.database.sql<{ name: string }[]>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE'`;
    expect(tables.map((table) => table.name)).toEqual(
      expect.arrayContaining(['returns', 'return_events', 'subjects', 'audit_events']),
    );
    let scannedRows = 0;
    for (const { name } of tables) {
      const rows = await t.database.sql.unsafe(`select t::text as row from "${name}" t`);
      scannedRows += rows.length;
      const dump = rows
        .map((row) => row.row as string)
        .join('\n')
        .toLowerCase();
      for (const secret of secrets) {
        expect(dump, `${name} holds a personal value`).not.toContain(secret.toLowerCase());
        expect(dump, `${name} holds a personal value as hex`).not.toContain(
          Buffer.from(secret).toString('hex'),
        );
      }
    }
    expect(scannedRows).toBeGreaterThan(10);
  });

  it('finds none of them in the captured logs', () => {
    const logs = t.logs.join('\n').toLowerCase();
    expect(t.logs.length).toBeGreaterThan(10);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret.toLowerCase());
      expect(logs).not.toContain(encodeURIComponent(secret).toLowerCase());
    }
  });
});
