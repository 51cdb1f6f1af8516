import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

const readAs = async (t: TestApp, id: string) =>
  t.app.inject({
    url: `/v1/returns/${id}`,
    headers: { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' },
  });

describe('values that do not decrypt answer a typed problem, never a value', () => {
  it('answers 500 data_integrity_failure for a ciphertext moved to another return', async () => {
    const t = await createTestApp();
    const first = (await createReturnVia(t, returnRequest({}, 'moved1'))).json().id as string;
    const second = (await createReturnVia(t, returnRequest({}, 'moved2'))).json().id as string;
    // The second return's name copied onto the first: its AAD names the other row.
    await t.database
      .sql`update returns set customer_name_enc = (select customer_name_enc from returns where id = ${second})
      where id = ${first}`;
    const response = await readAs(t, first);
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ code: 'data_integrity_failure', reason: 'aad_mismatch' });
    expect(response.body).not.toContain('Vauquelin');
    const logged = t.logs.join('\n');
    expect(logged).toContain('AadMismatchError');
    expect(logged).not.toContain('Vauquelin');
  });

  it('answers 503 key_unavailable when MASTER_KEYS lacks the version that wraps the data key', async () => {
    const before = await createTestApp();
    const id = (await createReturnVia(before, returnRequest({}, 'nokey'))).json().id as string;
    await before.app.close();
    // Restarted with another key ring: the v1 that wrapped the subject's keys is gone.
    const after = await createTestApp({
      database: before.database,
      env: { MASTER_KEYS: `v2:${randomBytes(32).toString('base64')}` },
    });
    const response = await readAs(after, id);
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'key_unavailable' });
    expect(response.body).not.toContain('Vauquelin');
  });
});
