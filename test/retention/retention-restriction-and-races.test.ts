import { describe, expect, it } from 'vitest';
import { runRetention } from '../../src/retention/retention-engine';
import { liftRestriction, runRequest } from '../subject-requests/dsr-fixtures';
import { createTestApp } from '../support/test-app';
import { closeReturn, createReturn, justAfter, retentionDeps } from './retention-fixtures';

const counts = (summary: { rules: { ruleId: string; done: number }[] }) =>
  Object.fromEntries(summary.rules.map((rule) => [rule.ruleId, rule.done]));

describe('retention and what it must leave', () => {
  it('erases and deletes nothing of a return restricted at its subject request (Art. 18), until lifted', async () => {
    const t = await createTestApp();
    const restricted = await createReturn(t);
    await closeReturn(t, restricted.id);
    const { id: requestId } = await runRequest(t, { type: 'restriction', email: restricted.email });

    const run = await runRetention(retentionDeps(t), { asOf: justAfter('P11Y') });
    expect(counts(run!)).toMatchObject({ 'contact-erase': 0, 'payment-erase': 0, 'accounting-delete': 0 });
    const [row] = await t.database.sql`
      select data_state, erased_at, customer_name_enc is not null as has_contact from returns where id = ${restricted.id}`;
    expect(row).toMatchObject({ data_state: 'restricted', erased_at: null, has_contact: true });
    expect(await t.database.sql`select id from subject_requests where id = ${requestId}`).toHaveLength(1);

    const lift = await liftRestriction(t, requestId);
    expect(lift.statusCode, lift.body).toBe(200);
    await t.database.sql`delete from retention_runs`;
    const after = await runRetention(retentionDeps(t), { asOf: justAfter('P11Y') });
    expect(counts(after!)).toMatchObject({ 'accounting-delete': 1 });
  });

  it('keeps a lifted restriction request five years from its lift, not from its completion', async () => {
    const t = await createTestApp();
    const subject = await createReturn(t);
    const { id } = await runRequest(t, { type: 'restriction', email: subject.email });
    await t.database
      .sql`update subject_requests set completed_at = now() - interval '6 years' where id = ${id}`;
    await liftRestriction(t, id);
    await runRetention(retentionDeps(t), { asOf: new Date() });
    expect(await t.database.sql`select id from subject_requests where id = ${id}`).toHaveLength(1);
    await t.database.sql`delete from retention_runs`;
    await runRetention(retentionDeps(t), { asOf: justAfter('P5Y') });
    expect(await t.database.sql`select id from subject_requests where id = ${id}`).toHaveLength(0);
  });

  it('deletes the record of a return that never ended, its accounting period counted from its dormancy', async () => {
    const t = await createTestApp();
    const never = await createReturn(t);
    const run = await runRetention(retentionDeps(t), { asOf: justAfter('P11Y') });
    expect(counts(run!)).toMatchObject({ 'accounting-delete': 1 });
    expect(await t.database.sql`select id from returns where id = ${never.id}`).toHaveLength(0);
  });

  it('leaves a dormant return that an event wakes while its erase batch waits for it', async () => {
    const t = await createTestApp();
    const dormant = await createReturn(t);
    // Dormant for six years, archived since.
    await t.database.sql`update returns set created_at = now() - interval '7 years', archived_at = now(),
      data_state = 'archived' where id = ${dormant.id}`;
    let run: ReturnType<typeof runRetention> | undefined;
    await t.database.sql.begin(async (tx) => {
      // What an event does: the return locked, its event stored, the return under way again.
      await tx`select id from returns where id = ${dormant.id} for update`;
      await tx`insert into return_events (id, return_id, type, origin, occurred_at, received_at, dedupe_key)
        values (gen_random_uuid(), ${dormant.id}, 'label_created', 'merchant', now(), now(), ${`wake-${dormant.id}`})`;
      await tx`update returns set status = 'label_created', archived_at = null, data_state = 'active',
        updated_at = now() where id = ${dormant.id}`;
      run = runRetention(retentionDeps(t), { asOf: new Date() });
      // Committed once the run's batch waits for this lock: it chose the return before the event.
      for (let tries = 0; tries < 100; tries += 1) {
        const [waiting] = await t.database.sql`select count(*)::int as n from pg_locks where not granted`;
        if (waiting!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    await run;
    const [row] = await t.database.sql`
      select erased_at, customer_name_enc is not null as has_contact from returns where id = ${dormant.id}`;
    expect(row).toMatchObject({ erased_at: null, has_contact: true });
  });
});
