import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/app';
import { mintToken } from '../src/auth/mint-token';
import type { DatabaseHandle } from '../src/db/database';
import { applyMigrations } from '../src/db/migrations';
import { loadPolicies } from '../src/policies/load-policies';
import { createSigner } from '../src/signing/signing-key';
import { benchConfig, openBenchDatabase } from './bench-database';

/*
 * `npm run bench -- dsr [--returns N] [--small N] [--subjects N]`: the access package and the erasure of
 * one subject (3 returns, real encryption, through HTTP) with `--small` (10,000) and then `--returns`
 * (1,000,000) returns stored. Goals: p95 <= 100 ms for each at the large size, and p95 at the large
 * size <= 1.5 x p95 at the small one (per-subject work must not grow with the table).
 * Filler returns are inserted in SQL (random bytes where ciphertexts go): the requests never read them.
 * Uses BENCH_DATABASE_URL when set (a database it may fill), else a throw-away embedded PostgreSQL.
 */

interface Options {
  returns: number;
  small: number;
  subjects: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { returns: 1_000_000, small: 10_000, subjects: 60 };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i]?.replace(/^--/, '');
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${args[i]} needs a positive integer`);
    if (key === 'returns' || key === 'small' || key === 'subjects') options[key] = value;
    else throw new Error(`unknown option ${args[i]} (use --returns, --small, --subjects)`);
  }
  if (options.small >= options.returns) throw new Error('--small must be below --returns');
  return options;
}

/** Fills the returns table up to `target` rows, two returns per filler subject, in batches. */
async function fillTo(handle: DatabaseHandle, target: number) {
  const [{ stored } = { stored: 0 }] = await handle.sql<
    { stored: number }[]
  >`select count(*)::int as stored from returns`;
  const batch = 50_000;
  for (let from = stored + 1; from <= target; from += batch) {
    const to = Math.min(target, from + batch - 1);
    await handle.sql`
      with filler_subjects as (
        insert into subjects (email_index, email_index_version)
        select sha256(convert_to('dsr-bench-' || g, 'UTF8')), 'v1'
        from generate_series(${from}::int, ${to}::int, 2) as g
        returning id
      ), numbered as (
        select id, row_number() over () as n from filler_subjects
      )
      insert into returns (id, merchant_id, order_ref, subject_id, status, method, refund_method,
        delivered_at, notified_at, withdrawal_deadline, return_deadline, items, total_cents, postal_area,
        country, customer_name_enc, customer_email_enc, address_line1_enc, postal_code_enc, city_enc)
      select gen_random_uuid(), 'merchant-' || (n % 7), 'FILL-' || n || '-' || copy || '-' || ${from}::int, s.id,
        'created', 'post_office', 'original_payment', now() - interval '3 days', now() - interval '2 days',
        current_date, current_date,
        jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (n % 5000), 'quantity', 1,
          'unitPriceCents', 1000, 'reason', 'too_small')),
        1000, '69', 'FR', sha512(convert_to('n' || n, 'UTF8')), sha512(convert_to('e' || n, 'UTF8')),
        sha512(convert_to('a' || n, 'UTF8')), sha256(convert_to('z' || n, 'UTF8')), sha256(convert_to('c' || n, 'UTF8'))
      from numbered s cross join (values (1), (2)) as copies(copy)
      limit ${to - from + 1}`;
    process.stderr.write(`\rstored ${to.toLocaleString('en')} / ${target.toLocaleString('en')}`);
  }
  process.stderr.write('\n');
  await handle.sql`analyze`;
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
}

interface Client {
  call(
    method: string,
    url: string,
    body?: unknown,
  ): Promise<{ status: number; json: () => Promise<unknown> }>;
}

/** Creates `subjects` customers with three returns each, then times their access packages and erasures. */
async function measure(client: Client, label: string, subjects: number) {
  const customer = (tag: string) => ({
    name: `Camille ${tag}`,
    email: `camille.${tag}@example.org`,
    phone: '+33612345678',
    address: { line1: '5 avenue Foch', postalCode: '69006', city: 'Lyon', country: 'FR' },
  });
  const tags = Array.from(
    { length: subjects },
    (_, index) => `${label}-${index}-${randomBytes(3).toString('hex')}`,
  );
  for (const tag of tags) {
    for (let copy = 0; copy < 3; copy += 1) {
      const response = await client.call('POST', '/v1/returns', {
        merchantId: 'merchant-bench',
        orderRef: `DSR-${tag}-${copy}`,
        deliveredAt: new Date(Date.now() - 2 * 86_400_000).toISOString(),
        customer: customer(tag),
        items: [
          { sku: 'SKU-B', quantity: 1, unitPriceCents: 4999, reason: 'too_small', comment: 'trop petit' },
        ],
        method: 'post_office',
        refund: { method: 'bank_transfer', iban: 'FR1420041010050500013M02606' },
      });
      if (response.status !== 201) throw new Error(`return not created: ${response.status}`);
    }
  }
  const verified = async (type: string, tag: string) => {
    const created = await client.call('POST', '/v1/subject-requests', { type, email: customer(tag).email });
    const { id } = (await created.json()) as { id: string };
    await client.call('POST', `/v1/subject-requests/${id}/verify`, { method: 'account_login' });
    return id;
  };
  const access: number[] = [];
  const erasure: number[] = [];
  for (const tag of tags) {
    const accessId = await verified('access', tag);
    let started = performance.now();
    const pack = await client.call('GET', `/v1/subject-requests/${accessId}/package`);
    await pack.json();
    access.push(performance.now() - started);
    if (pack.status !== 200) throw new Error(`package failed: ${pack.status}`);

    const erasureId = await verified('erasure', tag);
    started = performance.now();
    const erased = await client.call('POST', `/v1/subject-requests/${erasureId}/execute`);
    await erased.json();
    erasure.push(performance.now() - started);
    if (erased.status !== 200) throw new Error(`erasure failed: ${erased.status}`);
  }
  return { accessP95: p95(access), erasureP95: p95(erasure), samples: subjects };
}

export async function run(args: string[]) {
  const options = parseOptions(args);
  const database = await openBenchDatabase(8);
  try {
    await applyMigrations(database.handle);
    const config = benchConfig();
    const app = await buildApp({
      config,
      policies: loadPolicies(config.policiesDir),
      database: database.handle,
      signer: await createSigner(config.signingKeyPem),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const token = await mintToken(config.jwt, { role: 'admin', ttlSeconds: 7200 });
    const client: Client = {
      call: async (method, url, body) => {
        const response = await fetch(`${baseUrl}${url}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: response.status, json: () => response.json() };
      },
    };

    await fillTo(database.handle, options.small);
    await measure(client, 'warm', 10);
    const small = await measure(client, 'small', options.subjects);
    await fillTo(database.handle, options.returns);
    const large = await measure(client, 'large', options.subjects);
    await app.close();

    const result = {
      benchmark: 'dsr',
      at: new Date().toISOString(),
      subjectsPerSize: options.subjects,
      returnsPerSubject: 3,
      small: { returnsStored: options.small, ...small },
      large: { returnsStored: options.returns, ...large },
      ratio: { access: large.accessP95 / small.accessP95, erasure: large.erasureP95 / small.erasureP95 },
    };
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/dsr-${result.at.replaceAll(':', '-')}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    const row = (name: string, p: number, goal: string) =>
      `${name.padEnd(34)} ${p.toFixed(1).padStart(7)} ms  ${goal}`;
    console.log(
      [
        row(`access package p95 @ ${options.small.toLocaleString('en')}`, small.accessP95, ''),
        row(
          `access package p95 @ ${options.returns.toLocaleString('en')}`,
          large.accessP95,
          '(goal <= 100 ms)',
        ),
        row(`erasure p95 @ ${options.small.toLocaleString('en')}`, small.erasureP95, ''),
        row(`erasure p95 @ ${options.returns.toLocaleString('en')}`, large.erasureP95, '(goal <= 100 ms)'),
        `ratio large / small: access ${result.ratio.access.toFixed(2)}, erasure ${result.ratio.erasure.toFixed(2)} (goal <= 1.5)`,
        `written to ${file}`,
      ].join('\n'),
    );
  } finally {
    await database.stop();
  }
}
