import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import postgres from 'postgres';
import type { DatabaseHandle } from '../db/database';
import type { WebhookSubscription } from '../policies/webhooks-policy';
import {
  type AttemptRecord,
  type ClaimedDelivery,
  claimDueDeliveries,
  fanOutEvents,
  recordAttempts,
  releaseClaims,
} from './deliveries';
import { sendWebhook } from './send-webhook';
import type { TargetRules } from './target-guard';
import { webhookBody } from './webhook-payload';
import { signWebhook } from './webhook-secrets';

// Any constant shared by every instance; distinct from the migration lock and the other jobs' keys.
const dispatcherLockKey = 7_311_009;
const fanOutBatch = 500;
const gatherMs = 10;

export interface DispatcherLogger {
  info(message: string): void;
  warn(message: string): void;
  error(object: unknown, message: string): void;
}

export interface DispatcherOptions {
  database: DatabaseHandle;
  subscriptions: readonly WebhookSubscription[];
  /** Signing key bytes by subscription id. */
  keys: Map<string, Buffer>;
  rules: TargetRules;
  log: DispatcherLogger;
  /**
   * How often the leader looks for new outbox events and due retries. Writers do not NOTIFY: a NOTIFY
   * takes a database-wide lock from its commit until the commit is flushed, which would serialize every
   * return intake behind one another's disk flush. A short poll costs two indexed queries instead.
   */
  pollIntervalMs?: number;
  /** How often a follower tries to become leader, and a leader checks it still holds the lock. */
  leaderCheckIntervalMs?: number;
  /** Requests in flight per subscription: a slow receiver fills its own slots, never the others'. */
  concurrencyPerTarget?: number;
  /** Retry delay after attempt n: min(maxMs, baseMs * 2^(n-1)), times a random 50-100 % (jitter). */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * Deliveries claimed ahead per subscription, in rounds of `concurrencyPerTarget`: a finished request
   * starts the next queued one without a database round trip. A claim's lease covers every round ahead
   * of it (rounds x timeout + margin); a crashed dispatcher's claims come back when it runs out.
   */
  claimRounds?: number;
  leaseMarginMs?: number;
}

export interface WebhookDispatcher {
  start(): Promise<void>;
  /** Stops claiming, lets requests in flight finish and be recorded, releases the leadership. */
  stop(): Promise<void>;
  /** Abrupt end, as a crash would be: requests are cut and nothing more is recorded. */
  kill(): Promise<void>;
  isLeader(): boolean;
}

export function retryDelayMs(attempt: number, backoff: { baseMs: number; maxMs: number }): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

/**
 * One dispatcher per instance; only the one holding the PostgreSQL session advisory lock (on its own
 * connection) delivers. It fans new outbox events out to subscriptions, claims due deliveries with
 * FOR UPDATE SKIP LOCKED, and sends them in parallel with a per-target cap and a per-request timeout.
 */
export function createWebhookDispatcher(options: DispatcherOptions): WebhookDispatcher {
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const leaderCheckIntervalMs = options.leaderCheckIntervalMs ?? 2000;
  const concurrency = options.concurrencyPerTarget ?? 16;
  const backoff = options.backoff ?? { baseMs: 2000, maxMs: 3_600_000 };
  const claimRounds = options.claimRounds ?? 8;
  const leaseMarginMs = options.leaseMarginMs ?? 5000;
  const subscriptions = new Map(options.subscriptions.map((s) => [s.id, s]));
  // Its own small pool: claims and records never queue behind request traffic on the app's pool.
  const sql = postgres(options.database.url, {
    max: 3,
    idle_timeout: 30,
    // Only built-in types are used; skipping the type fetch also leaves nothing pending at a kill.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: 'returnvault-webhook-dispatcher' },
  });
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: concurrency }),
    https: new https.Agent({ keepAlive: true, maxSockets: concurrency }),
  };
  const abort = new AbortController();
  // Every request in flight listens for the kill signal.
  setMaxListeners(0, abort.signal);
  const inFlight = new Map<string, number>();
  const queued = new Map<string, ClaimedDelivery[]>(options.subscriptions.map((s) => [s.id, []]));
  const sending = new Set<Promise<void>>();
  // Finished attempts wait here for the next cycle, which records them all in one statement.
  let finished: AttemptRecord[] = [];
  // Set by the poll; cleared when the outbox is fanned out (finished requests wake a cycle without it).
  let outboxDirty = true;

  let lockConnection: postgres.Sql | undefined;
  let leader = false;
  let stopped = false;
  let cycling = false;
  let wakeAgain = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let gatherTimer: NodeJS.Timeout | undefined;
  let currentCycle: Promise<void> = Promise.resolve();
  let leaderTimer: NodeJS.Timeout | undefined;

  async function checkLeadership(): Promise<void> {
    if (stopped || !lockConnection) return;
    try {
      if (leader) {
        // The driver reconnects silently after a dropped connection, and the session lock dies with
        // it: ask the server whether this session still holds it.
        const [row] = await lockConnection<{ held: boolean }[]>`
          select exists (select 1 from pg_locks where locktype = 'advisory' and objid = ${dispatcherLockKey}
                         and pid = pg_backend_pid() and granted) as held`;
        if (!row?.held) {
          leader = false;
          options.log.warn('webhook dispatcher lost its leadership');
        }
      } else {
        const [row] = await lockConnection<
          { ok: boolean }[]
        >`select pg_try_advisory_lock(${dispatcherLockKey}) as ok`;
        if (row?.ok && !stopped) {
          leader = true;
          options.log.info('webhook dispatcher is the leader');
          wake();
        }
      }
    } catch (error) {
      leader = false;
      options.log.error({ err: error }, 'webhook dispatcher could not check its leadership');
    }
  }

  function wake(): void {
    if (stopped || !leader) return;
    if (cycling) {
      wakeAgain = true;
      return;
    }
    cycling = true;
    // A short gathering window: under load, one cycle serves many polls and finished requests.
    gatherTimer = setTimeout(() => {
      currentCycle = cycle().finally(() => {
        cycling = false;
        if (wakeAgain) {
          wakeAgain = false;
          wake();
        }
      });
    }, gatherMs);
  }

  async function flushFinished(): Promise<void> {
    const batch = finished;
    finished = [];
    try {
      await recordAttempts(sql, batch);
    } catch (error) {
      // Unrecorded attempts are not lost: their leases run out and the deliveries are sent again.
      options.log.error({ err: error }, 'webhook attempts could not be recorded');
    }
    for (const record of batch) {
      if (record.status === 'dead') {
        options.log.warn(
          `webhook delivery ${record.deliveryId} is a dead letter after ${record.attempt} attempt(s)`,
        );
      }
    }
  }

  async function fanOutIfDirty(): Promise<void> {
    if (!outboxDirty) return;
    outboxDirty = false;
    while (
      !stopped &&
      leader &&
      (await fanOutEvents(sql, options.subscriptions, fanOutBatch)) === fanOutBatch
    ) {}
  }

  async function cycle(): Promise<void> {
    if (stopped) return;
    try {
      // Recording finished attempts and fanning out new events touch different rows: run them together.
      await Promise.all([flushFinished(), fanOutIfDirty()]);
      if (stopped || !leader) return;
      const capacities = [...subscriptions.values()]
        .map((s) => ({
          subscriptionId: s.id,
          limit: concurrency * claimRounds - (inFlight.get(s.id) ?? 0) - queued.get(s.id)!.length,
          leaseMs: claimRounds * s.timeoutMs + leaseMarginMs,
        }))
        .filter((c) => c.limit > 0);
      const claims = await claimDueDeliveries(sql, capacities);
      for (const claim of claims) queued.get(claim.subscriptionId)!.push(claim);
      for (const subscriptionId of subscriptions.keys()) pump(subscriptionId);
    } catch (error) {
      options.log.error({ err: error }, 'webhook dispatch cycle failed; retrying on the next poll');
    }
  }

  /** Starts queued deliveries of a subscription while it has free slots. */
  function pump(subscriptionId: string): void {
    const queue = queued.get(subscriptionId)!;
    while (!stopped && queue.length > 0 && (inFlight.get(subscriptionId) ?? 0) < concurrency) {
      launch(queue.shift()!);
    }
  }

  function launch(claim: ClaimedDelivery): void {
    const subscription = subscriptions.get(claim.subscriptionId)!;
    inFlight.set(subscription.id, (inFlight.get(subscription.id) ?? 0) + 1);
    const task = deliver(subscription, claim)
      .catch((error) => options.log.error({ err: error }, 'webhook attempt failed unexpectedly'))
      .finally(() => {
        inFlight.set(subscription.id, (inFlight.get(subscription.id) ?? 1) - 1);
        sending.delete(task);
        pump(subscription.id);
        wake();
      });
    sending.add(task);
  }

  async function deliver(subscription: WebhookSubscription, claim: ClaimedDelivery): Promise<void> {
    const key = options.keys.get(subscription.id);
    if (!key) throw new Error(`no signing key for webhook subscription ${subscription.id}`);
    const body = webhookBody(claim);
    const timestamp = Math.floor(Date.now() / 1000);
    const startedAt = new Date();
    const result = await sendWebhook({
      url: subscription.url,
      headers: {
        'webhook-id': claim.eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(key, claim.eventId, timestamp, body),
      },
      body,
      timeoutMs: subscription.timeoutMs,
      rules: options.rules,
      agents,
      signal: abort.signal,
    });
    // Killed: a crash records nothing; the lease runs out and another dispatcher sends it again.
    if (abort.signal.aborted) return;
    const attempt = claim.attempts + 1;
    finished.push({
      deliveryId: claim.id,
      leaseId: claim.leaseId,
      attempt,
      startedAt,
      ...result,
      status: result.delivered ? 'delivered' : attempt >= subscription.maxAttempts ? 'dead' : 'pending',
      retryDelayMs: retryDelayMs(attempt, backoff),
    });
  }

  async function halt(): Promise<void> {
    stopped = true;
    clearInterval(pollTimer);
    clearInterval(leaderTimer);
    clearTimeout(gatherTimer);
    // The cycle under way finishes on live connections, so nothing is cut in the middle of a query.
    await currentCycle;
  }

  return {
    async start() {
      lockConnection = postgres(options.database.url, {
        max: 1,
        idle_timeout: 0,
        // The leader lock lives with this session: no recycling after postgres.js's max_lifetime, which
        // would hand leadership around every half hour or so.
        max_lifetime: null,
        fetch_types: false,
        onnotice: () => {},
        connection: { application_name: 'returnvault-webhook-dispatcher' },
      });
      await checkLeadership();
      pollTimer = setInterval(() => {
        outboxDirty = true;
        wake();
      }, pollIntervalMs);
      leaderTimer = setInterval(() => void checkLeadership(), leaderCheckIntervalMs);
    },
    async stop() {
      await halt();
      await Promise.allSettled([...sending]);
      await flushFinished();
      // Claimed but never started: hand them back now rather than when their lease runs out.
      const unsent = [...queued.values()].flatMap((queue) => queue.splice(0));
      await releaseClaims(sql, unsent).catch((error) =>
        options.log.error({ err: error }, 'webhook claims could not be released; their leases will run out'),
      );
      if (leader && lockConnection) {
        await lockConnection`select pg_advisory_unlock(${dispatcherLockKey})`.catch(() => {});
      }
      leader = false;
      await lockConnection?.end({ timeout: 5 });
      await sql.end({ timeout: 5 });
      agents.http.destroy();
      agents.https.destroy();
    },
    async kill() {
      abort.abort();
      await halt();
      leader = false;
      await lockConnection?.end({ timeout: 0 });
      agents.http.destroy();
      agents.https.destroy();
      await Promise.allSettled([...sending]);
      await sql.end({ timeout: 0 });
    },
    isLeader: () => leader,
  };
}
