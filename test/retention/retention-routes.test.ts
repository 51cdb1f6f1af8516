import { beforeAll, describe, expect, it } from 'vitest';
import { tryRetentionLock } from '../../src/retention/retention-lock';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { closeReturn, createReturn, justAfter } from './retention-fixtures';

describe('retention routes', () => {
  let t: TestApp;
  let dpo: Record<string, string>;

  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
    // Closed four months ago: their contact data are due for archiving (three months) today.
    const fourMonthsAgo = new Date(Date.now() - 122 * 86_400_000);
    for (let i = 0; i < 3; i += 1) {
      const fixture = await createReturn(t, { at: new Date(fourMonthsAgo.getTime() - 86_400_000) });
      await closeReturn(t, fixture.id, 'refunded', fourMonthsAgo);
    }
  });

  async function waitForRun(runId: string) {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const runs = (await t.app.inject({ url: '/v1/retention/runs', headers: dpo })).json().runs as {
        runId: string;
        status: string;
      }[];
      const run = runs.find((candidate) => candidate.runId === runId);
      if (run && run.status !== 'running') return run;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the run did not finish');
  }

  it('lists the rules with their durations, actions and legal bases', async () => {
    const response = await t.app.inject({ url: '/v1/retention/policies', headers: dpo });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.policyVersion).toBe(t.policies.version);
    expect(body.rules).toContainEqual(
      expect.objectContaining({
        id: 'payment-erase',
        dataClass: 'payment',
        startEvent: 'refunded',
        duration: 'P13M',
        action: 'erase',
      }),
    );
  });

  it('needs the retention:manage scope and a valid date', async () => {
    const merchant = bearer(await t.token('merchant'));
    for (const [method, url] of [
      ['GET', '/v1/retention/policies'],
      ['GET', '/v1/retention/preview'],
      ['POST', '/v1/retention/run'],
      ['GET', '/v1/retention/runs'],
    ] as const) {
      expect(
        (await t.app.inject({ method, url, headers: merchant, payload: method === 'POST' ? {} : undefined }))
          .statusCode,
      ).toBe(403);
      expect(
        (await t.app.inject({ method, url, payload: method === 'POST' ? {} : undefined })).statusCode,
      ).toBe(401);
    }
    for (const asOf of ['2031-02-30', 'tomorrow', '2031-01-01T00:00:00']) {
      const response = await t.app.inject({ url: `/v1/retention/preview?asOf=${asOf}`, headers: dpo });
      expect(response.statusCode, asOf).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
    const badBody = await t.app.inject({
      method: 'POST',
      url: '/v1/retention/run',
      headers: dpo,
      payload: { dryRun: 'yes' },
    });
    expect(badBody.statusCode).toBe(400);
  });

  it('refuses a run that changes data as of a future date; a dry run may look ahead', async () => {
    const asOf = justAfter('P5Y').toISOString();
    const run = await t.app.inject({
      method: 'POST',
      url: '/v1/retention/run',
      headers: dpo,
      payload: { asOf },
    });
    expect(run.statusCode, run.body).toBe(400);
    expect(run.json().errors).toEqual([expect.objectContaining({ path: 'body.asOf' })]);
    const dry = await t.app.inject({
      method: 'POST',
      url: '/v1/retention/run',
      headers: dpo,
      payload: { asOf, dryRun: true },
    });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json().rules.find((rule: { ruleId: string }) => rule.ruleId === 'contact-erase').done).toBe(3);
  });

  it('starts a run (202) with no body, which shows in the run list with its counts and the caller as actor', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/retention/run', headers: dpo });
    expect(response.statusCode, response.body).toBe(202);
    const started = response.json();
    expect(started).toMatchObject({ status: 'running', dryRun: false, policyVersion: t.policies.version });
    const run = (await waitForRun(started.runId)) as unknown as {
      status: string;
      totals: { done: number };
      rules: { ruleId: string; done: number }[];
    };
    expect(run.status).toBe('completed');
    expect(run.rules.find((rule) => rule.ruleId === 'contact-archive')!.done).toBe(3);
    const [event] = await t.database
      .sql`select actor, actor_scopes from audit_events where action = 'retention.archive'`;
    expect(event!.actor).not.toBe('system:retention');
    expect(event!.actor_scopes).toContain('retention:manage');
  });

  it('answers 409 while another instance holds the run', async () => {
    const lock = await tryRetentionLock(t.database.url);
    expect(lock).toBeDefined();
    try {
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/retention/run',
        headers: dpo,
        payload: {},
      });
      expect(response.statusCode).toBe(409);
      expect(response.json().code).toBe('retention_run_in_progress');
      // A dry run only reads: it is allowed meanwhile.
      const dry = await t.app.inject({
        method: 'POST',
        url: '/v1/retention/run',
        headers: dpo,
        payload: { dryRun: true },
      });
      expect(dry.statusCode).toBe(200);
    } finally {
      await lock!.release();
    }
  });
});
