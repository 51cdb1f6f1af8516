import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The statement of migration 0029 that gives runs started before it the lanes they were swept in. */
const legacyLaneStarts = readFileSync(
  new URL('../../migrations/0029_retention-lane-starts.sql', import.meta.url),
  'utf8',
).split('--> statement-breakpoint')[1]!;

describe('migration 0029: lane starts of runs started before it', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  async function ruleOf(lanes: number, status: string, laneKeys: (string | null)[]) {
    const [run] = await database.sql<{ id: string }[]>`
      insert into retention_runs (trigger, actor, as_of, policy_version, batch_size, lanes, status)
      values ('cli', 'test', now(), 'v-test', 500, ${lanes}, 'failed') returning id`;
    await database.sql`
      insert into retention_run_rules (run_id, rule_id, position, data_class, action, duration, status, lane_keys)
      values (${run!.id}, 'contact-erase', 0, 'contact', 'erase', 'P5Y', ${status}, ${laneKeys})`;
    return run!.id;
  }
  const startsOf = async (runId: string) =>
    (
      await database.sql<{ lane_starts: string[] | null }[]>`
      select lane_starts from retention_run_rules where run_id = ${runId}`
    )[0]!.lane_starts;

  it('keeps the even cuts of the uuid space that an unfinished rule with recorded keys was swept in', async () => {
    const twoLanes = await ruleOf(2, 'running', ['3f000000-0000-7000-8000-000000000000', null]);
    const threeLanes = await ruleOf(3, 'running', [null, '60000000-0000-4000-8000-000000000000', null]);
    const oneLane = await ruleOf(1, 'running', ['10000000-0000-4000-8000-000000000000']);
    const notStarted = await ruleOf(2, 'running', []);
    const finished = await ruleOf(2, 'completed', ['3f000000-0000-7000-8000-000000000000', null]);

    await database.sql.unsafe(legacyLaneStarts);

    expect(await startsOf(twoLanes)).toEqual(['80000000-0000-0000-0000-000000000000']);
    // floor(i * 2^32 / 3): 0x55555555 and 0xaaaaaaaa, as the even cut computed them.
    expect(await startsOf(threeLanes)).toEqual([
      '55555555-0000-0000-0000-000000000000',
      'aaaaaaaa-0000-0000-0000-000000000000',
    ]);
    expect(await startsOf(oneLane)).toEqual([]);
    // Nothing recorded yet, or nothing left: the rule is cut on its due ids when it starts, or never.
    expect(await startsOf(notStarted)).toBeNull();
    expect(await startsOf(finished)).toBeNull();
  });
});
