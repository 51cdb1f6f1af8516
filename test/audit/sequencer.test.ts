import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { canonicalLeaf, type LoggedEvent, loggedEventColumns } from '../../src/audit/canonical-event';
import { leafHash, rootFromLeafHashes } from '../../src/audit/merkle';
import { recordAuditEvent } from '../../src/audit/record-audit-event';
import { runSequencerOnce, startSequencer } from '../../src/audit/sequencer';
import { openDatabase } from '../../src/db/database';
import { createTestApp, type TestApp } from '../support/test-app';

describe('audit sequencer', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  const sequence = (batchSize?: number) => runSequencerOnce(t.database, t.app.signer, { batchSize });

  async function record(action: string, db = t.database.db) {
    await recordAuditEvent(db, { requestId: 'req-1' }, { action, outcome: 'success', targetType: 'test' });
  }

  /** Every event with its position, in position order, and the leaves recomputed from the events. */
  async function logState() {
    const rows = await t.database.sql<(LoggedEvent & { id: string; position: string | null })[]>`
      select e.id::text, l.position::text as position, ${t.database.sql.unsafe(loggedEventColumns)}
        from audit_events e left join audit_log_entries l on l.audit_event_id = e.id
       order by l.position nulls last, e.id`;
    return rows;
  }

  it('positions every committed event contiguously and signs a checkpoint over the RFC 9162 root', async () => {
    for (let i = 0; i < 7; i++) await record(`test.first.${i}`);
    const result = await sequence(3);
    expect(result.sequenced).toBe(7);
    expect(result.treeSize).toBe(7);

    const rows = await logState();
    expect(rows.map((row) => Number(row.position))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const leaves = rows.map((row) => leafHash(canonicalLeaf(row)));
    const [checkpoint] = await t.database.sql`
      select tree_size::int as "treeSize", encode(root_hash, 'hex') as "rootHash", jws
        from audit_checkpoints order by tree_size desc limit 1`;
    expect(checkpoint).toMatchObject({ treeSize: 7, rootHash: rootFromLeafHashes(leaves).toString('hex') });

    const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
    const verified = await compactVerify(checkpoint?.jws, createLocalJWKSet(jwks));
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toMatchObject({
      treeSize: 7,
      rootHash: checkpoint?.rootHash,
    });
    // A batch of 3 means three transactions, each with its own checkpoint.
    const sizes = await t.database
      .sql`select tree_size::int as size from audit_checkpoints order by tree_size`;
    expect(sizes.map((row) => row.size)).toEqual([3, 6, 7]);

    expect((await sequence()).sequenced).toBe(0);
  });

  it('hashes a batch larger than one slice of the event loop into the same tree', async () => {
    await t.database.sql`
      insert into audit_events (actor, action, outcome)
      select 'bulk', 'test.sliced.' || n, 'success' from generate_series(1, 250) as n`;
    const result = await sequence();
    expect(result.sequenced).toBe(250);
    const rows = await logState();
    expect(rows.map((row) => Number(row.position))).toEqual(rows.map((_, index) => index));
    const [checkpoint] = await t.database.sql`
      select tree_size::int as "treeSize", encode(root_hash, 'hex') as "rootHash"
        from audit_checkpoints order by tree_size desc limit 1`;
    expect(checkpoint).toEqual({
      treeSize: rows.length,
      rootHash: rootFromLeafHashes(rows.map((row) => leafHash(canonicalLeaf(row)))).toString('hex'),
    });
  });

  it('gives late commits a later position: no gap, no duplicate, nobody skipped, writers never wait', async () => {
    // Its own pool, so 20 transactions can stay open at once.
    const writers = openDatabase(t.database.url, { maxConnections: 24 });
    afterAll(() => writers.close());
    const before = Number((await sequence()).treeSize);

    let releaseLate!: () => void;
    const lateGate = new Promise<void>((resolve) => {
      releaseLate = resolve;
    });
    // A failed assertion must not leave transactions open that would block the next tests.
    onTestFinished(() => releaseLate());
    let lateWritten = 0;
    const transactions = Array.from({ length: 20 }, (_, index) =>
      writers.sql.begin(async (tx) => {
        for (let i = 0; i < 3; i++) {
          await tx`insert into audit_events (actor, action, outcome) values ('writer', ${`test.concurrent.${index}.${i}`}, 'success')`;
        }
        if (index % 4 === 0) {
          // These began early (smaller ids) and commit after the others were sequenced.
          lateWritten++;
          await lateGate;
        }
      }),
    );
    // Opening 20 connections on a loaded machine takes a while: wait for the writers, not a clock.
    await expect.poll(() => lateWritten, { timeout: 60_000 }).toBe(5);
    const early = transactions.filter((_, index) => index % 4 !== 0);
    await Promise.all(early);

    // Two sequencer runs at once (as a CLI run next to the leader): they serialise.
    const firstPass = await Promise.all([sequence(7), sequence(7)]);
    expect(firstPass[0].sequenced + firstPass[1].sequenced).toBe(45);
    releaseLate();
    await Promise.all(transactions);
    const secondPass = await sequence(7);
    expect(secondPass.sequenced).toBe(15);
    expect(secondPass.treeSize).toBe(before + 60);

    const rows = await logState();
    const positions = rows.map((row) => Number(row.position));
    expect(positions).toEqual(Array.from({ length: before + 60 }, (_, i) => i));
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
    const late = rows.filter((row) => /^test\.concurrent\.(0|4|8|12|16)\./.test(row.action));
    expect(late).toHaveLength(15);
    expect(Math.min(...late.map((row) => Number(row.position)))).toBeGreaterThanOrEqual(before + 45);

    const [checkpoint] = await t.database.sql`
      select encode(root_hash, 'hex') as root from audit_checkpoints order by tree_size desc limit 1`;
    expect(checkpoint?.root).toBe(
      rootFromLeafHashes(rows.map((row) => leafHash(canonicalLeaf(row)))).toString('hex'),
    );
  });

  it('never positions an event whose transaction rolled back', async () => {
    const { treeSize } = await sequence();
    await t.database.sql
      .begin(async (tx) => {
        await tx`insert into audit_events (actor, action, outcome) values ('writer', 'test.rolled_back', 'success')`;
        throw new Error('abort');
      })
      .catch(() => {});
    await record('test.after_rollback');
    expect(await sequence()).toMatchObject({ sequenced: 1, treeSize: treeSize + 1 });
  });

  it('keeps the log append-only: UPDATE, DELETE and TRUNCATE are refused on every audit table', async () => {
    await sequence();
    const refused = [
      t.database.sql`update audit_events set actor = 'someone else'`,
      t.database.sql`delete from audit_events`,
      t.database.sql`truncate audit_events cascade`,
      t.database.sql`update audit_log_entries set position = position + 1000`,
      t.database.sql`delete from audit_log_entries`,
      t.database.sql`truncate audit_log_entries`,
      t.database.sql`update audit_tree_nodes set hash = '\\x00'`,
      t.database.sql`delete from audit_tree_nodes`,
      t.database.sql`update audit_checkpoints set jws = 'forged'`,
      t.database.sql`delete from audit_checkpoints`,
      t.database.sql`truncate audit_checkpoints`,
    ];
    for (const statement of refused) {
      await expect(statement).rejects.toMatchObject({ code: '42501' });
    }
    const [count] = await t.database.sql`select count(*)::int as n from audit_events`;
    expect(count?.n).toBeGreaterThan(0);
  });

  it('elects one leader across instances and hands over when it stops', async () => {
    const silent = t.app.log;
    const first = startSequencer(
      { database: t.database, signer: t.app.signer, log: silent },
      { intervalMs: 60_000 },
    );
    const second = startSequencer(
      { database: t.database, signer: t.app.signer, log: silent },
      { intervalMs: 60_000 },
    );
    await record('test.leader');
    const results = [await first.runNow(), await second.runNow()];
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    const leader = results[0] ? first : second;
    const follower = results[0] ? second : first;
    await leader.stop();
    await record('test.after_handover');
    expect(await follower.runNow()).toMatchObject({ sequenced: 1 });
    await follower.stop();
  });
});
