import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/http/app-error';
import { type RetentionDependencies, runRetention } from '../../src/retention/retention-engine';
import { runScheduledRetention } from '../../src/retention/retention-scheduler';
import { untilFeedCaughtUp } from '../pseudonymization/feed-fixtures';
import { liftRestriction, runRequest } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import {
  closeReturn,
  createReturn,
  justAfter,
  openOtherTransaction,
  placeHold,
  postEvent,
  type ReturnFixture,
  retentionDeps,
} from './retention-fixtures';

const silent = { info: () => {}, error: () => {} };

async function returnRow(t: TestApp, id: string) {
  const [row] = await t.database.sql`
    select data_state, archived_at, erased_at, customer_name_enc is not null as has_contact,
           iban_enc is not null as has_iban
    from returns where id = ${id}`;
  return row;
}

async function readReturn(t: TestApp, id: string, purpose: string) {
  return t.app.inject({
    url: `/v1/returns/${id}`,
    headers: { ...bearer(await t.token('support')), 'x-purpose': purpose },
  });
}

const counts = (summary: { rules: { ruleId: string; done: number; skippedHeld: number }[] }) =>
  Object.fromEntries(summary.rules.map((rule) => [rule.ruleId, [rule.done, rule.skippedHeld]]));

describe('retention engine: each default rule as the date moves', () => {
  let t: TestApp;
  let deps: RetentionDependencies;
  let closed: ReturnFixture;
  let open: ReturnFixture;
  let noIban: ReturnFixture;

  beforeAll(async () => {
    t = await createTestApp();
    deps = retentionDeps(t);
    closed = await createReturn(t);
    await closeReturn(t, closed.id);
    open = await createReturn(t);
    noIban = await createReturn(t, { bankTransfer: false });
    await closeReturn(t, noIban.id, 'rejected');
  });

  it('does nothing before any period ends', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P2M') });
    expect(summary!.totals).toEqual({ done: 0, skippedHeld: 0, failed: 0 });
    expect(summary!.status).toBe('completed');
    expect(summary!.policyVersion).toBe(t.policies.version);
    expect((await returnRow(t, closed.id))!.data_state).toBe('active');
  });

  it('archives contact data 3 months after the return closed: readable only for legal claims', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P3M') });
    expect(counts(summary!)['contact-archive']).toEqual([2, 0]);
    expect(summary!.rules.find((rule) => rule.ruleId === 'proof-archive')!.status).toBe('not_applied');
    const row = await returnRow(t, closed.id);
    expect(row!.data_state).toBe('archived');
    expect(row!.archived_at).not.toBeNull();
    expect((await returnRow(t, open.id))!.data_state).toBe('active');
    expect((await readReturn(t, closed.id, 'customer_support')).statusCode).toBe(403);
    const forClaim = await readReturn(t, closed.id, 'legal_claim');
    expect(forClaim.statusCode).toBe(200);
    expect(forClaim.body).toContain('Jeanne Martin');

    // One event per batch: the two returns may lie in different lanes, hence in two batches.
    const events = await t.database.sql`
      select actor, details from audit_events where action = 'retention.archive'`;
    expect(events.map((event) => event.actor)).toEqual(events.map(() => 'system:retention'));
    expect(events.flatMap((event) => event.details.ids as string[]).sort()).toEqual(
      [closed.id, noIban.id].sort(),
    );
    expect(events.map((event) => event.details.policyVersion)).toEqual(events.map(() => t.policies.version));
  });

  it('runs again as of the same date without doing anything twice', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P3M') });
    expect(summary!.totals.done).toBe(0);
  });

  it('erases the refund IBAN 13 months after the refund and keeps the contact data', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P13M') });
    expect(counts(summary!)['payment-erase']).toEqual([1, 0]);
    const row = await returnRow(t, closed.id);
    expect(row!.has_iban).toBe(false);
    expect(row!.has_contact).toBe(true);
    expect((await returnRow(t, open.id))!.has_iban).toBe(true);
  });

  it('erases contact data 5 years after closing and tells recipients with a tombstone', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P5Y') });
    expect(counts(summary!)['contact-erase']).toEqual([2, 0]);
    const row = await returnRow(t, closed.id);
    expect(row!.erased_at).not.toBeNull();
    expect(row!.has_contact).toBe(false);
    expect((await returnRow(t, open.id))!.has_contact).toBe(true);
    const [key] = await t.database.sql`
      select k.destroyed_at from subject_data_keys k join returns r on r.subject_id = k.subject_id
      where r.id = ${closed.id} and k.data_class = 'contact'`;
    expect(key!.destroyed_at).not.toBeNull();

    await untilFeedCaughtUp(t);
    const feed = await t.app.inject({
      url: '/v1/pseudonymized/returns?limit=1000',
      headers: bearer(await t.token('backend', { clientId: 'analytics' })),
    });
    expect(feed.statusCode, feed.body).toBe(200);
    const items = feed.json().items as { id: string; erased?: boolean }[];
    const erased = items.filter((item) => item.erased === true);
    expect(erased).toHaveLength(2);
    expect(JSON.stringify(feed.json())).not.toContain('Jeanne');
  });

  it('deletes the accounting record 10 years after the refund, or after the end of a return with none', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P10Y') });
    expect(counts(summary!)['accounting-delete']).toEqual([2, 0]);
    expect(await returnRow(t, closed.id)).toBeUndefined();
    expect(await returnRow(t, noIban.id)).toBeUndefined();
    expect(await returnRow(t, open.id)).toBeDefined();
    const audit = summary!.rules.find((rule) => rule.ruleId === 'audit-delete')!;
    expect(audit.status).toBe('not_applied');
    expect(audit.note).toMatch(/append-only/);
  });

  it('records every run with its rules, counts, duration and policy version', async () => {
    const runs = await t.database.sql`select * from retention_runs order by started_at`;
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(runs.every((run) => run.status === 'completed' && run.policy_version === t.policies.version)).toBe(
      true,
    );
    expect(runs.every((run) => typeof run.duration_ms === 'number')).toBe(true);
    const rules = await t.database.sql`select * from retention_run_rules where run_id = ${runs[1]!.id}`;
    expect(rules.map((rule) => rule.rule_id)).toEqual(
      expect.arrayContaining(t.policies.retention.rules.map((rule) => rule.id)),
    );
  });
});

describe('retention engine: returns that end without being closed', () => {
  it('starts their clock at the refund, rejection or cancellation; a return under way has none', async () => {
    const t = await createTestApp();
    const deps = retentionDeps(t);
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const refunded = await createReturn(t);
    await postEvent(t, refunded.id, 'received', minutesAgo(3));
    await postEvent(t, refunded.id, 'refunded', minutesAgo(2), { amountCents: 2599 });
    const rejected = await createReturn(t, { bankTransfer: false });
    await postEvent(t, rejected.id, 'received', minutesAgo(3));
    await postEvent(t, rejected.id, 'rejected', minutesAgo(2), { reason: 'damaged_by_customer' });
    const cancelled = await createReturn(t, { bankTransfer: false });
    await postEvent(t, cancelled.id, 'cancelled', minutesAgo(2));
    const underWay = await createReturn(t);
    await postEvent(t, underWay.id, 'received', minutesAgo(3));

    expect(counts((await runRetention(deps, { asOf: justAfter('P2M') }))!)['contact-archive']).toEqual([
      0, 0,
    ]);
    expect(counts((await runRetention(deps, { asOf: justAfter('P3M') }))!)['contact-archive']).toEqual([
      3, 0,
    ]);
    for (const ended of [refunded, rejected, cancelled]) {
      expect((await returnRow(t, ended.id))!.data_state).toBe('archived');
    }
    expect((await returnRow(t, underWay.id))!.data_state).toBe('active');
    expect(counts((await runRetention(deps, { asOf: justAfter('P5Y') }))!)['contact-erase']).toEqual([3, 0]);
    for (const ended of [refunded, rejected, cancelled]) {
      expect((await returnRow(t, ended.id))!.has_contact).toBe(false);
    }
    expect((await returnRow(t, underWay.id))!.has_contact).toBe(true);
  });
});

describe('retention engine: returns that end with no refund', () => {
  it('erases their IBAN at once and deletes the record 10 years after their end', async () => {
    const t = await createTestApp();
    const deps = retentionDeps(t);
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const rejected = await createReturn(t);
    await postEvent(t, rejected.id, 'received', minutesAgo(3));
    await postEvent(t, rejected.id, 'rejected', minutesAgo(2), { reason: 'damaged_by_customer' });
    const cancelledThenClosed = await createReturn(t);
    await postEvent(t, cancelledThenClosed.id, 'cancelled', minutesAgo(3));
    await postEvent(t, cancelledThenClosed.id, 'closed', minutesAgo(2));
    const refundOwed = await createReturn(t);
    await postEvent(t, refundOwed.id, 'received', minutesAgo(3));

    const now = await runRetention(deps, { asOf: new Date() });
    expect(counts(now!)['payment-erase']).toEqual([2, 0]);
    expect((await returnRow(t, rejected.id))!.has_iban).toBe(false);
    expect((await returnRow(t, cancelledThenClosed.id))!.has_iban).toBe(false);
    expect((await returnRow(t, refundOwed.id))!.has_iban).toBe(true);

    expect(counts((await runRetention(deps, { asOf: justAfter('P10Y') }))!)['accounting-delete']).toEqual([
      2, 0,
    ]);
    expect(await returnRow(t, rejected.id)).toBeUndefined();
    expect(await returnRow(t, cancelledThenClosed.id)).toBeUndefined();
    expect(await returnRow(t, refundOwed.id)).toBeDefined();
  });
});

describe('retention engine: legal holds, dry runs, one runner at a time', () => {
  let t: TestApp;
  let deps: RetentionDependencies;
  let free: ReturnFixture[];
  let heldByReturn: ReturnFixture;
  let heldBySubject: ReturnFixture;
  let shortHold: ReturnFixture;

  async function snapshot() {
    const returns = await t.database.sql`select * from returns order by id`;
    const keys = await t.database.sql`select * from subject_data_keys order by subject_id, data_class`;
    const [audit] = await t.database
      .sql`select count(*)::int as n from audit_events where action like 'retention.%' or action like 'erasure.%' or action like 'key.%'`;
    const [runs] = await t.database.sql`select count(*)::int as n from retention_runs`;
    return JSON.stringify({ returns, keys, audit, runs });
  }

  beforeAll(async () => {
    t = await createTestApp();
    deps = retentionDeps(t);
    free = [];
    for (let i = 0; i < 5; i += 1) {
      const fixture = await createReturn(t);
      await closeReturn(t, fixture.id);
      free.push(fixture);
    }
    heldByReturn = await createReturn(t);
    await closeReturn(t, heldByReturn.id);
    heldBySubject = await createReturn(t);
    await closeReturn(t, heldBySubject.id);
    shortHold = await createReturn(t);
    await closeReturn(t, shortHold.id);
    await placeHold(t, { returnId: heldByReturn.id });
    await placeHold(t, { email: heldBySubject.email });
    await placeHold(t, { returnId: shortHold.id, until: new Date(Date.now() + 365 * 86_400_000) });
  });

  it('a dry run changes nothing and counts what a run will do', async () => {
    const before = await snapshot();
    const dry = await runRetention(deps, { asOf: justAfter('P5Y'), dryRun: true, batchSize: 2 });
    expect(dry!.dryRun).toBe(true);
    expect(dry!.runId).toBeNull();
    expect(await snapshot()).toBe(before);
    expect(counts(dry!)['contact-archive']).toEqual([6, 2]);
    expect(counts(dry!)['contact-erase']).toEqual([6, 2]);
    // Through the API too.
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/retention/run',
      headers: bearer(await t.token('dpo')),
      payload: { dryRun: true, asOf: justAfter('P5Y').toISOString() },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().totals).toEqual(dry!.totals);
    expect(await snapshot()).toBe(before);
  });

  it('skips and counts what a legal hold covers; a hold that ended no longer counts', async () => {
    const summary = await runRetention(deps, { asOf: justAfter('P5Y'), batchSize: 2 });
    // The 1-year hold has ended by then: its return is archived and erased like the free ones.
    expect(counts(summary!)['contact-archive']).toEqual([6, 2]);
    expect(counts(summary!)['contact-erase']).toEqual([6, 2]);
    expect(counts(summary!)['payment-erase']).toEqual([6, 2]);
    for (const fixture of [heldByReturn, heldBySubject]) {
      const row = await returnRow(t, fixture.id);
      expect(row).toMatchObject({ data_state: 'active', erased_at: null, has_contact: true, has_iban: true });
    }
    expect((await returnRow(t, shortHold.id))!.erased_at).not.toBeNull();
    const events = await t.database.sql`
      select details from audit_events where action = 'retention.erase' and target_id = 'contact-erase'`;
    const heldIds = events.flatMap((event) => event.details.heldIds as string[]);
    expect(heldIds.sort()).toEqual([heldByReturn.id, heldBySubject.id].sort());
  });

  it('the preview says what is due and what is held', async () => {
    const response = await t.app.inject({
      url: `/v1/retention/preview?asOf=${justAfter('P10Y').toISOString().slice(0, 10)}`,
      headers: bearer(await t.token('dpo')),
    });
    expect(response.statusCode, response.body).toBe(200);
    const rules = response.json().rules as { ruleId: string; due: number; held: number; toApply: number }[];
    expect(rules.find((rule) => rule.ruleId === 'accounting-delete')).toMatchObject({
      due: 8,
      held: 2,
      toApply: 6,
    });
    expect(rules.find((rule) => rule.ruleId === 'contact-erase')).toMatchObject({
      due: 2,
      held: 2,
      toApply: 0,
    });
  });

  it('two runners started together: one runs, the other reports a run in progress', async () => {
    let second: Promise<PromiseSettledResult<unknown>> | undefined;
    const first = runRetention(deps, {
      asOf: justAfter('P10Y'),
      batchSize: 1,
      onProgress: () => {
        second ??= runRetention(deps, { asOf: justAfter('P10Y') }).then(
          (value) => ({ status: 'fulfilled', value }),
          (reason: unknown) => ({ status: 'rejected', reason }),
        );
      },
    });
    const summary = await first;
    expect(summary!.status).toBe('completed');
    const other = await second!;
    expect(other.status).toBe('rejected');
    const error = (other as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('retention_run_in_progress');
  });

  it('two instances fired by the same cron time: one runs it, the other reports it', async () => {
    const slot = new Date('2041-06-01T03:00:00.000Z');
    const outcomes = await Promise.all([
      runScheduledRetention(deps, slot, silent),
      runScheduledRetention(deps, new Date(slot.getTime() + 400), silent),
    ]);
    const kinds = outcomes.map((outcome) => outcome.outcome).sort();
    expect(kinds[1]).toBe('ran');
    expect(['already_ran', 'in_progress']).toContain(kinds[0]);
    // A late instance whose clock fired after the run finished finds the run row and does nothing.
    expect((await runScheduledRetention(deps, slot, silent)).outcome).toBe('already_ran');
    const rows = await t.database
      .sql`select status from retention_runs where scheduled_for = ${slot.toISOString()}`;
    expect(rows).toEqual([{ status: 'completed' }]);
  });
});

describe('retention engine: lanes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  const closedReturns = async (count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const fixture = await createReturn(t);
      await closeReturn(t, fixture.id);
      ids.push(fixture.id);
    }
    return ids;
  };

  it('stopped mid-way and run again, each lane resumes after its own key: same totals, held rows counted once', async () => {
    const deps = retentionDeps(t);
    const all: ReturnFixture[] = [];
    for (let i = 0; i < 8; i += 1) {
      const fixture = await createReturn(t);
      await closeReturn(t, fixture.id);
      all.push(fixture);
    }
    await placeHold(t, { returnId: all[0]!.id });
    await placeHold(t, { email: all[1]!.email });
    const asOf = justAfter('P5Y');

    const stop = new AbortController();
    let batches = 0;
    const first = runRetention(deps, {
      asOf,
      lanes: 2,
      batchSize: 1,
      signal: stop.signal,
      onProgress: () => {
        batches += 1;
        if (batches === 3) stop.abort();
      },
    });
    await expect(first).rejects.toThrow();
    const [stopped] = await t.database.sql`
        select status, lanes from retention_runs`;
    expect(stopped).toMatchObject({ status: 'failed', lanes: 2 });
    const laneStartsOf = async (ruleId: string) =>
      (await t.database.sql`select lane_starts from retention_run_rules where rule_id = ${ruleId}`)[0]!
        .lane_starts as string[];
    const startedWith = await laneStartsOf('contact-archive');
    expect(startedWith).toHaveLength(1);

    // A resumed run keeps the lanes it started with, whatever is asked now.
    const summary = await runRetention(deps, { asOf, lanes: 3, batchSize: 1 });
    expect(summary!.resumed).toBe(true);
    expect(counts(summary!)['contact-archive']).toEqual([6, 2]);
    expect(counts(summary!)['contact-erase']).toEqual([6, 2]);
    const [rule] = await t.database.sql`
        select lane_keys from retention_run_rules where rule_id = 'contact-erase'`;
    expect(rule!.lane_keys).toHaveLength(2);
    // Cut again on what was left, the lanes would have moved under their recorded keys.
    expect(await laneStartsOf('contact-archive')).toEqual(startedWith);
    const events = await t.database.sql`
        select details from audit_events where action = 'retention.erase' and target_id = 'contact-erase'`;
    const erased = events.flatMap((event) => event.details.ids as string[]);
    expect(erased.sort()).toEqual(
      all
        .slice(2)
        .map((fixture) => fixture.id)
        .sort(),
    );
    const held = events.flatMap((event) => event.details.heldIds as string[]);
    expect(held.sort()).toEqual([all[0]!.id, all[1]!.id].sort());
  });

  it('while other work runs in the database, sweeps one lane at a time and still finishes', async () => {
    await t.database.sql`delete from retention_runs`;
    const ids = await closedReturns(6);
    const asOf = justAfter('P5Y');
    const other = await openOtherTransaction(t.database);
    try {
      const summary = await runRetention(retentionDeps(t), { asOf, lanes: 2, batchSize: 1 });
      // The two held returns of the test before are skipped again.
      expect(counts(summary!)['contact-erase']).toEqual([ids.length, 2]);
    } finally {
      await other.end();
    }
    // Return ids are time-ordered, so an even cut of the uuid space would put them all in lane 0; the
    // lanes are cut at the median of the due ids: the two held returns of the test before and one of
    // these in lane 0, the five others in lane 1.
    const [rule] = await t.database.sql`
      select lane_starts from retention_run_rules where rule_id = 'contact-erase'`;
    const [start] = rule!.lane_starts as string[];
    const sorted = [...ids].sort();
    expect(start! > sorted[0]! && start! <= sorted.at(-1)!).toBe(true);
    const inLane = (id: string) => (id < start! ? 0 : 1);
    // The first lane swept alone, the second after it: never one batch of each in turn.
    const events = await t.database.sql`
      select details from audit_events where action = 'retention.erase' and target_id = 'contact-erase'
      and details->>'runId' = (select id::text from retention_runs order by started_at desc limit 1)
      order by id`;
    const lanes = events.flatMap((event) => (event.details.ids as string[]).map(inLane));
    expect(lanes).toEqual([...lanes].sort());
    expect(new Set(lanes)).toEqual(new Set([0, 1]));
  });

  it('with fewer rows due than lanes, leaves the extra lanes empty; with none, runs no lane', async () => {
    await t.database.sql`delete from retention_runs`;
    await closedReturns(2);
    const asOf = justAfter('P5Y');
    const onlyErase = { ...retentionDeps(t) };
    onlyErase.policies = {
      ...onlyErase.policies,
      retention: { rules: onlyErase.policies.retention.rules.filter((rule) => rule.id === 'contact-erase') },
    };
    // The two held returns of the first test are due too: four rows, five lanes.
    const summary = await runRetention(onlyErase, { asOf, lanes: 5, batchSize: 1 });
    expect(counts(summary!)['contact-erase']).toEqual([2, 2]);
    const [rule] = await t.database.sql`
      select lane_starts, lane_keys from retention_run_rules where rule_id = 'contact-erase'`;
    expect(rule!.lane_starts).toHaveLength(4);
    expect(rule!.lane_keys.filter((key: string | null) => key !== null).length).toBeLessThanOrEqual(4);

    await t.database.sql`delete from retention_runs`;
    await t.database.sql`update legal_holds set released_at = now(), released_by = 'test'`;
    const held = await runRetention(onlyErase, { asOf, lanes: 2, batchSize: 1 });
    expect(counts(held!)['contact-erase']).toEqual([2, 0]);
    await t.database.sql`delete from retention_runs`;
    const none = await runRetention(onlyErase, { asOf, lanes: 2, batchSize: 1 });
    expect(none!.rules).toEqual([
      expect.objectContaining({ ruleId: 'contact-erase', status: 'completed', done: 0, batches: 0 }),
    ]);
    const [empty] = await t.database.sql`
      select lane_starts, lane_keys from retention_run_rules where rule_id = 'contact-erase'`;
    expect(empty).toEqual({ lane_starts: [], lane_keys: [] });
  });
});

describe('retention engine: archiving a restricted return', () => {
  it('keeps it restricted (Art. 18), and lifting the restriction leaves it archived', async () => {
    const t = await createTestApp();
    const restricted = await createReturn(t);
    await closeReturn(t, restricted.id);
    const { id: requestId } = await runRequest(t, { type: 'restriction', email: restricted.email });
    expect((await returnRow(t, restricted.id))!.data_state).toBe('restricted');

    const summary = await runRetention(retentionDeps(t), { asOf: justAfter('P3M') });
    expect(counts(summary!)['contact-archive']).toEqual([1, 0]);
    const archived = await returnRow(t, restricted.id);
    // Archived (its clock ran) but still restricted: a purpose allowed on archived data only may not read it.
    expect(archived).toMatchObject({ data_state: 'restricted', archived_at: expect.any(String) });

    const lift = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${requestId}/lift-restriction`,
      headers: bearer(await t.token('dpo')),
    });
    expect(lift.statusCode, lift.body).toBe(200);
    expect((await returnRow(t, restricted.id))!.data_state).toBe('archived');
  });
});

describe('retention engine: a return that never ends', () => {
  it('goes dormant a year after its last activity, then is archived and erased like a closed one', async () => {
    const t = await createTestApp();
    const deps = retentionDeps(t);
    const never = await createReturn(t);
    const woken = await createReturn(t);
    await postEvent(t, woken.id, 'label_created', new Date(Date.now() - 60_000));
    // Its event arrives two years from now (the arrival moved forward instead of waiting).
    await t.database
      .sql`update return_events set received_at = now() + interval '2 years' where return_id = ${woken.id}`;

    await runRetention(deps, { asOf: justAfter('P1Y') });
    expect((await returnRow(t, never.id))!.data_state).toBe('active');

    const revived = await createReturn(t);
    const restricted = await createReturn(t);
    const archived = await runRetention(deps, { asOf: justAfter('P1Y3M') });
    expect(counts(archived!)['contact-archive']).toEqual([3, 0]);
    // Restricted while archived (Art. 18 leaves an archived return's state as it is): waking it
    // must not open it to everyday purposes.
    await t.database.sql`update returns set restricted_at = now() where id = ${restricted.id}`;
    await postEvent(t, restricted.id, 'label_created', new Date(Date.now() - 60_000));
    expect(await returnRow(t, restricted.id)).toMatchObject({ data_state: 'restricted', archived_at: null });
    expect(await returnRow(t, never.id)).toMatchObject({ data_state: 'archived', has_contact: true });
    // An event on a dormant return wakes it: under way again, its data are for everyday purposes.
    expect(await returnRow(t, revived.id)).toMatchObject({ data_state: 'archived' });
    await postEvent(t, revived.id, 'label_created', new Date(Date.now() - 60_000));
    expect(await returnRow(t, revived.id)).toMatchObject({ data_state: 'active', archived_at: null });
    // Two years on, its clock started anew.
    expect((await returnRow(t, woken.id))!.data_state).toBe('active');

    await runRetention(deps, { asOf: justAfter('P6Y') });
    const erased = await returnRow(t, never.id);
    // Its IBAN goes with its contact data: no refund comes years on, and nothing finds it by e-mail.
    expect(erased).toMatchObject({ has_contact: false, has_iban: false });
    const keys = await t.database.sql`
      select data_class from subject_data_keys where wrapped_key is not null
        and subject_id = (select subject_id from returns where id = ${never.id})`;
    expect(keys).toEqual([]);
    expect(erased!.erased_at).not.toBeNull();
    expect(await returnRow(t, woken.id)).toMatchObject({ data_state: 'archived', has_contact: true });
  });
});

describe('retention engine: the IBAN of a return that never ends', () => {
  it('goes a payment period after its dormancy, also when an erasure request kept it for the refund owed', async () => {
    const t = await createTestApp();
    const deps = retentionDeps(t);
    const quiet = await createReturn(t);
    const erasedOwed = await createReturn(t);
    const { response } = await runRequest(t, { type: 'erasure', email: erasedOwed.email });
    expect(response.json().result.kept).toContainEqual(
      expect.objectContaining({ dataClass: 'payment', reason: 'legal_obligation', until: null, returns: 1 }),
    );
    expect(await returnRow(t, erasedOwed.id)).toMatchObject({ has_contact: false, has_iban: true });

    // Dormant a year on: the 13-month window starts then.
    const dormant = await runRetention(deps, { asOf: justAfter('P2Y') });
    expect(counts(dormant!)['payment-erase']).toEqual([0, 0]);
    expect((await returnRow(t, erasedOwed.id))!.has_iban).toBe(true);

    const over = await runRetention(deps, { asOf: justAfter('P2Y1M') });
    expect(counts(over!)['payment-erase']).toEqual([2, 0]);
    expect(await returnRow(t, erasedOwed.id)).toMatchObject({ has_iban: false });
    // The quiet one's contact data keep their own clock (archived, erased 5 years after its dormancy).
    expect(await returnRow(t, quiet.id)).toMatchObject({
      data_state: 'archived',
      has_contact: true,
      has_iban: false,
    });
  });

  it('goes at once with an erasure request made after the window counted from its dormancy', async () => {
    const t = await createTestApp();
    const longQuiet = await createReturn(t);
    await t.database
      .sql`update returns set created_at = now() - interval '2 years 2 months' where id = ${longQuiet.id}`;
    const { response } = await runRequest(t, { type: 'erasure', email: longQuiet.email });
    const result = response.json().result;
    expect(result.erased).toContainEqual(expect.objectContaining({ dataClass: 'payment', returns: 1 }));
    expect(result.kept).not.toContainEqual(expect.objectContaining({ dataClass: 'payment' }));
    expect(await returnRow(t, longQuiet.id)).toMatchObject({ has_contact: false, has_iban: false });
  });
});

describe('retention engine: an end event on a return archived while dormant', () => {
  it('wakes it: its end-based clocks apply from then', async () => {
    const t = await createTestApp();
    const deps = retentionDeps(t);
    const dormant = await createReturn(t);
    const ended = await createReturn(t);
    await closeReturn(t, ended.id);
    await runRetention(deps, { asOf: justAfter('P1Y3M') });
    expect(await returnRow(t, dormant.id)).toMatchObject({ data_state: 'archived' });
    expect(await returnRow(t, ended.id)).toMatchObject({ data_state: 'archived' });

    await postEvent(t, dormant.id, 'cancelled', new Date(Date.now() - 60_000));
    expect(await returnRow(t, dormant.id)).toMatchObject({ data_state: 'active', archived_at: null });
    // A return archived after it ended stays archived when a late carrier scan arrives.
    const late = await t.app.inject({
      method: 'POST',
      url: `/v1/returns/${ended.id}/events`,
      headers: bearer(await t.token('carrier')),
      payload: {
        carrierCode: 'ET1',
        carrier: 'colissimo',
        occurredAt: new Date(Date.now() - 30_000).toISOString(),
      },
    });
    expect(late.statusCode, late.body).toBeLessThan(300);
    expect(await returnRow(t, ended.id)).toMatchObject({ data_state: 'archived' });

    // Archived again three months after it was cancelled.
    const archived = await runRetention(deps, { asOf: justAfter('P3M') });
    expect(counts(archived!)['contact-archive']).toEqual([1, 0]);
    expect(await returnRow(t, dormant.id)).toMatchObject({ data_state: 'archived' });
  });
});

describe('retention engine: subject-request records', () => {
  it('deletes them five years after completion, but not a restriction still in force', async () => {
    const t = await createTestApp();
    const restricted = await createReturn(t);
    const { id: restrictionId } = await runRequest(t, { type: 'restriction', email: restricted.email });
    await runRequest(t, { type: 'access', email: restricted.email });
    const requestIds = async () =>
      (await t.database.sql`select id from subject_requests order by id`).map((row) => row.id as string);

    const first = await runRetention(retentionDeps(t), { asOf: justAfter('P5Y') });
    expect(counts(first!)['requests-delete']).toEqual([1, 0]);
    // Lifting goes through the restriction's request: deleting it would leave the subject restricted.
    expect(await requestIds()).toEqual([restrictionId]);

    const lift = await liftRestriction(t, restrictionId);
    expect(lift.statusCode, lift.body).toBe(200);
    await t.database.sql`delete from retention_runs`;
    const second = await runRetention(retentionDeps(t), { asOf: justAfter('P5Y') });
    expect(counts(second!)['requests-delete']).toEqual([1, 0]);
    expect(await requestIds()).toEqual([]);
  });
});
