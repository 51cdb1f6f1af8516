import { describe, expect, it } from 'vitest';
import { AnonymousDenialBudget } from '../../src/auth/denial-budget';
import { bearer, createTestApp } from '../support/test-app';

describe('refusals of callers without a valid token in the audit log', () => {
  it('writes at most the budget per window and carries the count of the others into the next', () => {
    const budget = new AnonymousDenialBudget(3, 1000);
    const taken = [0, 10, 20, 30, 40].map((at) => budget.take(at));
    expect(taken.map((take) => take.write)).toEqual([true, true, true, false, false]);
    expect(taken.map((take) => take.suppressionBegins)).toEqual([false, false, false, true, false]);
    expect(budget.take(1000)).toEqual({ write: true, suppressedBefore: 2, suppressionBegins: false });
    expect(budget.take(1010)).toEqual({ write: true, suppressedBefore: 0, suppressionBegins: false });
  });

  it('does not let anonymous requests grow the log without bound; refused tokens with an identity still count', async () => {
    const t = await createTestApp();
    for (let i = 0; i < 130; i++) {
      expect((await t.app.inject({ url: '/v1/me' })).statusCode).toBe(401);
    }
    const count = async (reason: string) =>
      (
        await t.database.sql`
          select count(*)::int as n from audit_events where action = 'auth.denied' and details->>'reason' = ${reason}`
      )[0]!.n;
    expect(await count('missing_token')).toBe(100);
    const noScope = await t.app.inject({ url: '/v1/keys', headers: bearer(await t.token('support')) });
    expect(noScope.statusCode).toBe(403);
    expect(await count('missing_scope')).toBe(1);
  });
});
