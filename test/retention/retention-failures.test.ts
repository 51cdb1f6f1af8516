import { describe, expect, it } from 'vitest';
import { runRetention } from '../../src/retention/retention-engine';
import { createTestApp } from '../support/test-app';
import { closeReturn, createReturn, justAfter, retentionDeps } from './retention-fixtures';

describe('retention engine: a row that cannot be processed', () => {
  it('is counted as failed and audited, the rest of its batch is done, and a later run retries it', async () => {
    const t = await createTestApp();
    const fixtures = [];
    for (let i = 0; i < 4; i += 1) {
      const fixture = await createReturn(t);
      await closeReturn(t, fixture.id);
      fixtures.push(fixture);
    }
    const broken = fixtures[2]!.id;
    // Stands for any fault tied to one row (a corrupt value, a constraint another feature added).
    await t.database.sql.unsafe(`
      create function refuse_one_return() returns trigger language plpgsql as $$
      begin
        if old.id = '${broken}' then raise exception 'refused for the test'; end if;
        return new;
      end $$;
      create trigger refuse_one_return before update on returns for each row execute function refuse_one_return();`);
    const deps = retentionDeps(t);
    const asOf = justAfter('P3M');

    const summary = await runRetention(deps, { asOf, batchSize: 10 });
    const archive = summary!.rules.find((rule) => rule.ruleId === 'contact-archive')!;
    expect(archive).toMatchObject({ status: 'failed', done: 3, skippedHeld: 0, failed: 1 });
    expect(summary!.status).toBe('completed');
    const states = await t.database.sql`select id, data_state from returns`;
    for (const row of states) expect(row.data_state).toBe(row.id === broken ? 'active' : 'archived');
    const [failure] = await t.database.sql`
      select target_type, target_id, details from audit_events
      where action = 'retention.archive' and outcome = 'failure'`;
    expect(failure).toMatchObject({ target_type: 'return', target_id: broken });
    expect(failure!.details.error).toBe('P0001');
    expect(JSON.stringify(failure!.details)).not.toContain('refused for the test');

    await t.database.sql`drop trigger refuse_one_return on returns`;
    const retry = await runRetention(deps, { asOf });
    expect(retry!.rules.find((rule) => rule.ruleId === 'contact-archive')).toMatchObject({
      done: 1,
      failed: 0,
    });
  });
});
