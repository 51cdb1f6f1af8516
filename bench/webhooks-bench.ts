import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import { applyMigrations } from '../src/db/migrations';
import { webhooksPolicySchema } from '../src/policies/webhooks-policy';
import { createWebhookDispatcher } from '../src/webhooks/dispatcher';
import { enqueueWebhookEvent } from '../src/webhooks/outbox';
import { openBenchDatabase } from './bench-database';

/*
 * `npm run bench -- webhooks [--rate N] [--seconds N]`: commits N return events per second, each in its
 * own transaction as the returns code does, while the real dispatcher delivers them to a receiver on
 * 127.0.0.1; reports the delay from commit to receipt. Uses BENCH_DATABASE_URL when set (a database it
 * may write to), else a throw-away embedded PostgreSQL. Writes bench/results/webhooks-<time>.json.
 */

interface Options {
  rate: number;
  seconds: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { rate: 200, seconds: 20 };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    if (args[i] === '--rate') options.rate = value;
    else if (args[i] === '--seconds') options.seconds = value;
    else throw new Error(`unknown option ${args[i]} (use --rate N, --seconds N)`);
  }
  return options;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const now = () => performance.timeOrigin + performance.now();

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const total = options.rate * options.seconds;
  // The producers stand for the request traffic of several instances (the server pool is 20 each);
  // the dispatcher has its own pool, as in the server.
  const database = await openBenchDatabase(50);
  await applyMigrations(database.handle);

  const committedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  let requests = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      requests++;
      const id = String(request.headers['webhook-id']);
      if (!receivedAt.has(id)) receivedAt.set(id, now());
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  const merchantId = `bench-${randomBytes(4).toString('hex')}`;
  const { subscriptions } = webhooksPolicySchema.parse({
    subscriptions: [{ id: 'bench', url, merchantId, events: ['return.created'] }],
  });
  const dispatcher = createWebhookDispatcher({
    database: database.handle,
    subscriptions,
    keys: new Map([['bench', randomBytes(32)]]),
    rules: { allowLoopback: true, allowPrivateNetworks: false },
    log: { info: () => {}, warn: (m) => console.error(m), error: (_o, m) => console.error(m) },
  });
  await dispatcher.start();
  const leaderDeadline = Date.now() + 10_000;
  while (!dispatcher.isLeader()) {
    if (Date.now() > leaderDeadline) throw new Error('the dispatcher did not become leader');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  console.error(
    `webhooks: ${options.rate} events/s for ${options.seconds} s (${total} events), one transaction each`,
  );
  const commits: Promise<void>[] = [];
  const started = now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      // Keep to the schedule: send what the elapsed time calls for, each event in its own transaction.
      const due = Math.min(total, Math.floor(((now() - started) / 1000) * options.rate));
      for (; sent < due; sent++) {
        const n = sent;
        commits.push(
          database.handle.db
            .transaction((tx) =>
              enqueueWebhookEvent(tx, {
                type: 'return.created',
                merchantId,
                data: { returnId: `bench-${n}`, status: 'created', createdAt: new Date().toISOString() },
              }),
            )
            .then((id) => void committedAt.set(id, now())),
        );
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  await Promise.all(commits);
  const producedIn = (now() - started) / 1000;
  const drainDeadline = Date.now() + 60_000;
  while (receivedAt.size < total && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
  await dispatcher.stop();
  receiver.close();

  const delays = [...committedAt].flatMap(([id, at]) => {
    const received = receivedAt.get(id);
    return received === undefined ? [] : [Math.max(0, received - at)];
  });
  delays.sort((a, b) => a - b);
  const [stats] = await database.handle.sql`
    select count(*) filter (where status = 'delivered')::int as delivered,
           count(*) filter (where status <> 'delivered')::int as undelivered,
           (select count(*)::int from webhook_attempts) as attempts
    from webhook_deliveries`;
  await database.stop();

  const round = (value: number) => Math.round(value * 10) / 10;
  const result = {
    benchmark: 'webhooks',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    database: process.env.BENCH_DATABASE_URL ? 'BENCH_DATABASE_URL' : 'embedded PostgreSQL',
    rate: options.rate,
    seconds: options.seconds,
    events: total,
    achievedRate: round(total / producedIn),
    received: receivedAt.size,
    lost: total - receivedAt.size,
    requests,
    duplicates: requests - receivedAt.size,
    deliveriesDelivered: stats!.delivered,
    deliveriesUndelivered: stats!.undelivered,
    attemptsRecorded: stats!.attempts,
    delayMs: {
      p50: round(percentile(delays, 50)),
      p95: round(percentile(delays, 95)),
      p99: round(percentile(delays, 99)),
      max: round(delays.at(-1) ?? Number.NaN),
      mean: round(delays.reduce((sum, d) => sum + d, 0) / delays.length),
    },
    goal: { p99DelayMs: 1000 },
  };
  const passed = result.lost === 0 && result.delayMs.p99 <= result.goal.p99DelayMs;

  console.log(
    [
      `events committed   ${result.events} at ${result.achievedRate}/s`,
      `received           ${result.received} (lost ${result.lost}, duplicate requests ${result.duplicates})`,
      `commit -> delivery p50 ${result.delayMs.p50} ms, p95 ${result.delayMs.p95} ms, p99 ${result.delayMs.p99} ms, max ${result.delayMs.max} ms`,
      `goal p99 <= 1000 ms: ${passed ? 'met' : 'NOT met'}`,
    ].join('\n'),
  );
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `webhooks-${result.at.replaceAll(':', '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ ...result, passed }, null, 2)}\n`);
  console.log(`written ${path.relative(process.cwd(), file)}`);
  if (!passed) throw new Error('the p99 delay goal was not met');
}
