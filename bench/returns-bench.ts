import { mkdirSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { mintToken } from '../src/auth/mint-token';
import { resolveAppConfig } from '../src/config/app-config';
import { applyMigrations } from '../src/db/migrations';
import { loadPolicies } from '../src/policies/load-policies';
import { seedReturns } from '../src/returns/seed-returns';
import { benchSecrets, openBenchDatabase } from './bench-database';
import {
  type BenchServer,
  postgresCpuSeconds,
  startBundledService,
  startServerProcess,
} from './bench-server';

/*
 * `npm run bench -- returns [--returns N] [--seconds S] [--connections C]`: seeds N returns through
 * the real encryption (and extrapolates the 1,000,000 figure), then loads create-return and
 * get-return on the real service and on a baseline that stores and reads the same JSON in a plain
 * table, both in their own process, in the same run. Uses BENCH_DATABASE_URL when set (a database it
 * may fill), else a throw-away embedded PostgreSQL. Writes bench/results/returns-<time>.json.
 */

interface Options {
  returns: number;
  seconds: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { returns: 50_000, seconds: 10, connections: 20 };
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]?.replace(/^--/, '') as keyof Options;
    const value = Number(args[i + 1]);
    if (!(name in options))
      throw new Error(`unknown option ${args[i]} (use --returns, --seconds, --connections)`);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    options[name] = value;
  }
  return options;
}

let sequence = 0;
function returnBody(): string {
  sequence += 1;
  const now = Date.now();
  return JSON.stringify({
    merchantId: 'm-bench',
    orderRef: `BENCH-${sequence}`,
    deliveredAt: new Date(now - 3 * 86_400_000).toISOString(),
    notifiedAt: new Date(now - 86_400_000).toISOString(),
    customer: {
      name: 'Camille Martin',
      email: `camille.martin.${sequence}@example.org`,
      phone: '+33612345678',
      address: {
        line1: '5 avenue Foch',
        line2: 'Escalier B',
        postalCode: '69006',
        city: 'Lyon',
        country: 'FR',
      },
    },
    items: [
      { sku: 'SKU-B1', quantity: 1, unitPriceCents: 4999, reason: 'wrong_size', comment: 'Trop petit' },
      { sku: 'SKU-B2', quantity: 2, unitPriceCents: 1500, reason: 'changed_mind' },
    ],
    parcel: { weightGrams: 800, lengthMm: 300, widthMm: 200, heightMm: 100 },
    method: 'mailbox',
    refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
  });
}

interface Measure {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /**
   * CPU time per request of the server process and of PostgreSQL during the load (autocannon's own
   * is not counted): steadier than the request rate on a shared machine, and it says where time goes.
   */
  serverCpuMsPerRequest: number;
  databaseCpuMsPerRequest: number;
}

async function load(
  server: BenchServer,
  options: Options,
  request: {
    method: 'GET' | 'POST';
    headers: Record<string, string>;
    next: () => { path: string; body?: string };
  },
  seconds = options.seconds,
): Promise<Measure> {
  const serverCpuBefore = server.cpuSeconds();
  const databaseCpuBefore = postgresCpuSeconds();
  const result = await autocannon({
    url: server.baseUrl,
    connections: options.connections,
    duration: seconds,
    requests: [
      {
        method: request.method,
        headers: request.headers,
        setupRequest: (base) => ({ ...base, ...request.next() }),
      },
    ],
  });
  const perRequest = (seconds: number) =>
    Number(((seconds * 1000) / Math.max(1, result.requests.total)).toFixed(2));
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    serverCpuMsPerRequest: perRequest(server.cpuSeconds() - serverCpuBefore),
    databaseCpuMsPerRequest: perRequest(postgresCpuSeconds() - databaseCpuBefore),
  };
}

export async function run(args: string[]) {
  const options = parseOptions(args);
  const database = await openBenchDatabase(4);
  const { handle } = database;
  const servers: BenchServer[] = [];
  try {
    await applyMigrations(handle);
    const env = { NODE_ENV: 'production', DATABASE_URL: handle.url, ...benchSecrets() };
    const config = resolveAppConfig({ ...process.env, ...env });
    const policies = loadPolicies(config.policiesDir);

    const seeded = await seedReturns(
      {
        db: handle.db,
        masterKeys: config.masterKeys,
        blindIndexKeys: config.blindIndexKeys,
        rules: policies.returnRules,
      },
      {
        count: options.returns,
        onProgress: (done) =>
          process.stderr.write(
            `\rseeded ${done.toLocaleString('en')} / ${options.returns.toLocaleString('en')}`,
          ),
      },
    );
    process.stderr.write('\n');
    const seedPerSecond = Math.round((seeded.returns / seeded.ms) * 1000);
    const millionMinutes = 1_000_000 / seedPerSecond / 60;
    // The baseline table holds as many rows as the service's, each the JSON of one request.
    await handle.sql`create table if not exists bench_plain_returns (id uuid primary key default gen_random_uuid(), body jsonb not null)`;
    await handle.sql`insert into bench_plain_returns (body) select ${returnBody()}::jsonb from generate_series(1, ${options.returns})`;
    await handle.sql`analyze`;
    const serviceIds = (
      await handle.sql<{ id: string }[]>`select id from returns order by random() limit 2000`
    ).map((r) => r.id);
    const baselineIds = (
      await handle.sql<{ id: string }[]>`select id from bench_plain_returns order by random() limit 2000`
    ).map((r) => r.id);

    const service = await startBundledService(env);
    servers.push(service);
    const baseline = await startServerProcess(
      ['--import', 'tsx', 'bench/returns-baseline-server.ts'],
      env,
      '/health',
    );
    servers.push(baseline);
    const writeToken = await mintToken(config.jwt, { role: 'merchant' });
    const readToken = await mintToken(config.jwt, { role: 'support' });
    const json = { 'content-type': 'application/json' };
    const pickId = (ids: string[]) => ids[Math.floor(Math.random() * ids.length)]!;

    const create = (server: BenchServer, headers: Record<string, string>, seconds?: number) =>
      load(
        server,
        options,
        { method: 'POST', headers, next: () => ({ path: '/v1/returns', body: returnBody() }) },
        seconds,
      );
    const get = (server: BenchServer, ids: string[], headers: Record<string, string>, seconds?: number) =>
      load(
        server,
        options,
        { method: 'GET', headers, next: () => ({ path: `/v1/returns/${pickId(ids)}` }) },
        seconds,
      );
    const serviceWrite = { ...json, authorization: `Bearer ${writeToken}` };
    const serviceRead = { authorization: `Bearer ${readToken}`, 'x-purpose': 'customer_support' };

    // Warm both (JIT, pools, caches), then measure.
    await create(service, serviceWrite, 3);
    await create(baseline, json, 3);
    await get(service, serviceIds, serviceRead, 3);
    await get(baseline, baselineIds, {}, 3);
    const results = {
      createReturn: { service: await create(service, serviceWrite), baseline: await create(baseline, json) },
      getReturn: {
        service: await get(service, serviceIds, serviceRead),
        baseline: await get(baseline, baselineIds, {}),
      },
    };
    const report = {
      at: new Date().toISOString(),
      options,
      seed: {
        returns: seeded.returns,
        seconds: seeded.ms / 1000,
        perSecond: seedPerSecond,
        extrapolatedMinutesFor1M: Number(millionMinutes.toFixed(1)),
      },
      createReturn: {
        ...results.createReturn,
        ratio: Number(
          (
            results.createReturn.service.requestsPerSecond / results.createReturn.baseline.requestsPerSecond
          ).toFixed(2),
        ),
      },
      getReturn: {
        ...results.getReturn,
        ratio: Number(
          (
            results.getReturn.service.requestsPerSecond / results.getReturn.baseline.requestsPerSecond
          ).toFixed(2),
        ),
      },
      peakRssMb: { service: Math.round(service.peakRssMb()), baseline: Math.round(baseline.peakRssMb()) },
    };
    // The goals of this machine at 20 connections (issue #3), each checked against this run.
    const goals = {
      ratio: 0.7,
      p99Ms: 50,
      peakRssMb: 200,
      seedMinutesFor1M: 10,
    };
    const met = {
      ratio: report.createReturn.ratio >= goals.ratio && report.getReturn.ratio >= goals.ratio,
      p99Ms:
        results.createReturn.service.p99Ms <= goals.p99Ms && results.getReturn.service.p99Ms <= goals.p99Ms,
      peakRssMb: report.peakRssMb.service <= goals.peakRssMb,
      seedMinutesFor1M: millionMinutes < goals.seedMinutesFor1M,
    };
    const line = (name: string, m: Measure) =>
      `  ${name.padEnd(9)} ${String(m.requestsPerSecond).padStart(6)} req/s  p50 ${String(m.p50Ms).padStart(4)} ms  p99 ${String(m.p99Ms).padStart(4)} ms  errors ${m.errors}  CPU/request: server ${m.serverCpuMsPerRequest} ms, PostgreSQL ${m.databaseCpuMsPerRequest} ms`;
    console.log(
      [
        `seed: ${seeded.returns.toLocaleString('en')} returns in ${(seeded.ms / 1000).toFixed(1)} s (${seedPerSecond}/s) -> 1,000,000 in ~${millionMinutes.toFixed(1)} min`,
        `create-return (${options.connections} connections, ${options.seconds} s):`,
        line('service', report.createReturn.service),
        line('baseline', report.createReturn.baseline),
        `  ratio     ${report.createReturn.ratio}`,
        'get-return:',
        line('service', report.getReturn.service),
        line('baseline', report.getReturn.baseline),
        `  ratio     ${report.getReturn.ratio}`,
        `peak RSS: service ${report.peakRssMb.service} MB, baseline ${report.peakRssMb.baseline} MB`,
        `goals: ${Object.entries(goals)
          .map(([name, goal]) => `${name} ${goal} ${met[name as keyof typeof met] ? 'met' : 'NOT met'}`)
          .join(', ')}`,
      ].join('\n'),
    );
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/returns-${report.at.replaceAll(':', '-')}.json`;
    writeFileSync(file, `${JSON.stringify({ ...report, goals, met }, null, 2)}\n`);
    console.log(`written to ${file}`);
  } finally {
    for (const server of servers) await server.stop();
    await database.stop();
  }
}
