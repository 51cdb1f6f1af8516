import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('controller-wide routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('refuses a merchant-limited token and records the refusal as an audit event', async () => {
    const token = await t.token('dpo', { sub: 'dpo-of-m7', merchantId: 'm-7' });
    const response = await t.app.inject({ url: '/v1/subject-requests', headers: bearer(token) });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('forbidden');
    const rows = await t.database.sql`
      select actor, outcome, target_id, details from audit_events
      where action = 'auth.denied' and details->>'reason' = 'merchant_scoped_token'`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'denied', target_id: 'GET /v1/subject-requests' });
    expect(JSON.stringify(rows)).not.toContain(token);
  });
});
