import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { fanOutEvents } from '../../src/webhooks/deliveries';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { enqueueReturns, subscriptions } from './webhook-fixtures';

const run = promisify(execFile);

/** `returnvault webhooks ...` as a real process against the test database. */
async function cli(database: TestDatabase, args: string[]) {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'src/cli/main.ts', 'webhooks', ...args], {
      env: { ...process.env, ...testEnvironment({ DATABASE_URL: database.url }) },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('returnvault webhooks deliveries | replay', () => {
  let database: TestDatabase;
  let dead: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    await enqueueReturns(database, 'm-cli', 2);
    await fanOutEvents(
      database.sql,
      subscriptions([
        { id: 'cli', url: 'https://shop.example/h', merchantId: 'm-cli', events: ['return.created'] },
      ]),
    );
    const [row] = await database.sql`update webhook_deliveries set status = 'dead', dead_at = now()
      where id = (select id from webhook_deliveries order by created_at limit 1) returning id`;
    dead = row!.id;
  });

  it('lists deliveries filtered by status, as lines or JSON', async () => {
    const lines = await cli(database, ['deliveries', '--status', 'dead']);
    expect(lines.code).toBe(0);
    expect(lines.stdout.trim().split('\n')).toHaveLength(1);
    expect(lines.stdout).toContain(`${dead}\tdead\treturn.created\tcli`);
    const json = await cli(database, ['deliveries', '--json']);
    expect(JSON.parse(json.stdout)).toHaveLength(2);
  });

  it('replays a dead letter and fails with one line otherwise', async () => {
    const replayed = await cli(database, ['replay', dead]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`${dead}\tpending`);
    const again = await cli(database, ['replay', dead]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`returnvault: delivery ${dead} is not a dead letter`);
    expect((await cli(database, ['replay', 'not-a-uuid'])).code).not.toBe(0);
    expect((await cli(database, ['deliveries', '--status', 'lost'])).code).not.toBe(0);
  });
});
