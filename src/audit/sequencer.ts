import { setImmediate } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type postgres from 'postgres';
import type { DatabaseHandle } from '../db/database';
import type { Signer } from '../signing/signing-key';
import { type Checkpoint, loadFrontier } from './audit-log-store';
import { canonicalLeaf, type LoggedEvent, loggedEventColumns } from './canonical-event';
import { signCheckpoint } from './checkpoint';
import { appendToFrontier, foldPerfectHashes, leafHash } from './merkle';

// The session lock elects the leader; the transaction lock keeps a CLI run and the leader from ever
// sequencing at the same time.
const leaderLockKey = 7_311_004;
const sequencingLockKey = 7_311_005;
/** Events hashed per turn of the event loop (a few milliseconds of work here). */
const hashSlice = 100;

export interface SequencingResult {
  /** Events given a position by this run. */
  sequenced: number;
  treeSize: number;
  /** The last checkpoint this run signed, if it positioned anything. */
  checkpoint?: Checkpoint;
}

interface BatchResult {
  sequenced: number;
  treeSize: number;
  drained: boolean;
  checkpoint?: Checkpoint;
  /** Where the next batch of the same pass resumes. */
  pass: Pass;
}

/**
 * One pass drains the unpositioned events in id order over several batches. The xmin of its first
 * snapshot is what it may set the horizon to once drained: every event of a transaction below it was
 * visible then, with an id the pass has not passed yet or has already taken.
 */
interface Pass {
  xmin?: string;
  afterId: string;
}

async function sequenceBatch(
  tx: postgres.TransactionSql,
  signer: Signer,
  batchSize: number,
  pass: Pass,
): Promise<BatchResult> {
  await tx`select pg_advisory_xact_lock(${sequencingLockKey})`;
  const [state] = await tx<{ horizon: string; treeSize: string }[]>`
    select horizon::text, tree_size::text as "treeSize" from audit_sequencer_state where id = 1`;
  if (!state) throw new Error('audit_sequencer_state has no row: migrations are not applied');
  const treeSize = Number(state.treeSize);
  // One statement, so the xmin and the candidate rows come from the same snapshot.
  const rows = await tx<(LoggedEvent & { id: string | null; xmin: string })[]>`
    with snapshot as (select pg_snapshot_xmin(pg_current_snapshot())::text as xmin),
    candidates as (
      select e.id::text, ${tx.unsafe(loggedEventColumns)}
        from audit_events e
       where e.tx_xid >= ${state.horizon}::xid8
         and e.id > ${pass.afterId}::bigint
         and not exists (select 1 from audit_log_entries l where l.audit_event_id = e.id)
       order by e.id
       limit ${batchSize})
    select snapshot.xmin, candidates.* from snapshot left join candidates on true`;
  const events = rows.filter((row) => row.id !== null);
  const next: Pass = {
    xmin: pass.xmin ?? (rows[0]?.xmin as string),
    afterId: events.at(-1)?.id ?? pass.afterId,
  };
  const drained = events.length < batchSize;
  // Another pass may have moved the horizon further meanwhile: both bounds hold, keep the larger.
  const horizon = drained ? tx`greatest(horizon, ${next.xmin as string}::xid8)` : tx`horizon`;
  if (events.length === 0) {
    await tx`update audit_sequencer_state set horizon = ${horizon} where id = 1`;
    return { sequenced: 0, treeSize, drained, pass: next };
  }

  // Hashed in slices with a turn of the event loop between them: this runs on a serving instance,
  // and a whole batch at once held the loop (and every request waiting on it) for over 10 ms.
  const leafHashes: Buffer[] = [];
  for (let start = 0; start < events.length; start += hashSlice) {
    if (start > 0) await setImmediate();
    for (const event of events.slice(start, start + hashSlice))
      leafHashes.push(leafHash(canonicalLeaf(event)));
  }
  const { frontier, completed } = appendToFrontier(await loadFrontier(tx, treeSize), treeSize, leafHashes);
  const newSize = treeSize + events.length;
  // Signed before anything is written, and the writes sent together and committed at once: the
  // transaction gets its id at its first write, and while it runs no row deleted or updated after
  // that is dead to every transaction. On a busy serving instance each awaited statement took a turn
  // of the event loop, the transaction stayed open most of each second, and the webhook outbox's
  // index scans walked thousands of fanned-out rows that could not be marked dead.
  const checkpoint = await signCheckpoint(
    signer,
    newSize,
    foldPerfectHashes(frontier.map((node) => node.hash)),
  );
  await Promise.all([
    tx`insert into audit_log_entries (position, audit_event_id, leaf_hash)
      select position, audit_event_id, decode(hash, 'hex')
        from unnest(${events.map((_, offset) => String(treeSize + offset))}::bigint[],
                    ${events.map((event) => event.id as string)}::bigint[],
                    ${leafHashes.map((hash) => hash.toString('hex'))}::text[]) as batch(position, audit_event_id, hash)`,
    completed.length > 0 &&
      tx`insert into audit_tree_nodes (level, index, hash)
        select level, index, decode(hash, 'hex')
          from unnest(${completed.map((node) => node.level)}::smallint[],
                      ${completed.map((node) => String(node.index))}::bigint[],
                      ${completed.map((node) => node.hash.toString('hex'))}::text[]) as batch(level, index, hash)`,
    tx`insert into audit_checkpoints (tree_size, root_hash, signed_at, key_id, jws)
      values (${newSize}, decode(${checkpoint.rootHash}, 'hex'), ${checkpoint.signedAt}, ${checkpoint.keyId}, ${checkpoint.jws})`,
    tx`update audit_sequencer_state set horizon = ${horizon}, tree_size = ${newSize} where id = 1`,
  ]);
  return { sequenced: events.length, treeSize: newSize, drained, checkpoint, pass: next };
}

/**
 * Positions the committed events that have none yet, in batches; each batch is one transaction that
 * extends the tree and signs a checkpoint. Visibility decides the order: an event is taken once its
 * transaction has committed, so a late commit gets a later position and is never skipped.
 *
 * Completeness rests on the writer's transaction id (`tx_xid`): every transaction below a snapshot's
 * xmin has ended, so all its events are visible in that snapshot; after a full pass the horizon moves
 * to that xmin and only events at or above it are scanned again. Writers take no lock at all.
 */
export async function runSequencerOnce(
  database: DatabaseHandle,
  signer: Signer,
  options: { batchSize?: number } = {},
): Promise<SequencingResult> {
  const batchSize = options.batchSize ?? 5000;
  const result: SequencingResult = { sequenced: 0, treeSize: 0 };
  let pass: Pass = { afterId: '0' };
  for (;;) {
    const batch = await database.sql.begin((tx) => sequenceBatch(tx, signer, batchSize, pass));
    result.sequenced += batch.sequenced;
    result.treeSize = batch.treeSize;
    if (batch.checkpoint) result.checkpoint = batch.checkpoint;
    if (batch.drained) return result;
    pass = batch.pass;
  }
}

export interface SequencerHandle {
  /** Runs a pass now if this instance leads; resolves with its result (undefined when another leads). */
  runNow(): Promise<SequencingResult | undefined>;
  /** Stops the timer, waits for a running pass and gives up the leadership. */
  stop(): Promise<void>;
}

/**
 * Runs the sequencer about every `intervalMs` on whichever instance holds the leader lock: a session
 * advisory lock on a dedicated connection, freed by PostgreSQL if that instance dies, so another
 * instance takes over at its next tick.
 */
export function startSequencer(
  deps: { database: DatabaseHandle; signer: Signer; log: FastifyBaseLogger },
  options: { intervalMs?: number; batchSize?: number } = {},
): SequencerHandle {
  let leader: postgres.ReservedSql | undefined;
  let stopped = false;
  let current: Promise<SequencingResult | undefined> = Promise.resolve(undefined);
  let queued = 0;

  const dropLeadership = () => {
    leader?.release();
    leader = undefined;
  };

  const isLeader = async (): Promise<boolean> => {
    if (leader) {
      try {
        await leader`select 1`;
        return true;
      } catch {
        // The connection broke, and the lock went with it: compete again.
        dropLeadership();
      }
    }
    const reserved = await deps.database.sql.reserve();
    try {
      const [row] = await reserved<
        { locked: boolean }[]
      >`select pg_try_advisory_lock(${leaderLockKey}) as locked`;
      if (row?.locked) {
        leader = reserved;
        deps.log.info('audit sequencer: this instance leads');
        return true;
      }
    } catch (error) {
      deps.log.warn({ err: error }, 'audit sequencer: could not compete for leadership');
    }
    reserved.release();
    return false;
  };

  const pass = async (): Promise<SequencingResult | undefined> => {
    if (stopped || !(await isLeader())) return undefined;
    const result = await runSequencerOnce(deps.database, deps.signer, { batchSize: options.batchSize });
    if (result.sequenced > 0) {
      deps.log.debug({ sequenced: result.sequenced, treeSize: result.treeSize }, 'audit events sequenced');
    }
    return result;
  };

  const runNow = () => {
    queued++;
    current = current
      .then(pass)
      .catch((error) => {
        deps.log.error({ err: error }, 'audit sequencer pass failed');
        return undefined;
      })
      .finally(() => {
        queued--;
      });
    return current;
  };

  // A tick while a pass is still running is skipped rather than queued behind it.
  const timer = setInterval(() => {
    if (queued === 0) void runNow();
  }, options.intervalMs ?? 1000);
  timer.unref();

  return {
    runNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
      if (leader) {
        await leader`select pg_advisory_unlock(${leaderLockKey})`.catch(() => {});
        dropLeadership();
      }
    },
  };
}
