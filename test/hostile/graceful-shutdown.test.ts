import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint-token';
import { resolveAppConfig } from '../../src/config/app-config';
import { findFreePort } from '../../src/db/embedded-postgres';
import { reportHostile } from '../support/hostile-summary';
import { testEnvironment } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

function body(n: number) {
  return JSON.stringify({
    merchantId: 'shutdown-shop',
    orderRef: `ORD-SIGTERM-${n}`,
    deliveredAt: new Date(Date.now() - 86_400_000).toISOString(),
    customer: {
      name: `Shutdown Customer ${n}`,
      email: `shutdown.${n}@example.org`,
      address: { line1: '1 quai de la Fin', postalCode: '69002', city: 'Lyon', country: 'FR' },
    },
    items: [{ sku: 'SKU-9', quantity: 1, unitPriceCents: 500, reason: 'changed_mind' }],
    method: 'post_office',
    refund: { method: 'original_payment' },
  });
}

async function waitUntilReady(port: number, child: ChildProcess) {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return;
    await sleep(100);
  }
  throw new Error('server did not become ready');
}

describe('SIGTERM under load', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('lets every in-flight request finish, then exits 0', async () => {
    const database = await createTestDatabase();
    const port = await findFreePort();
    const env = testEnvironment({ DATABASE_URL: database.url, PORT: String(port), LOG_LEVEL: 'warn' });
    const token = await mintToken(resolveAppConfig(env).jwt, { role: 'merchant' });
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await waitUntilReady(port, child);

    // Each request sends half of its body, so it is in flight when SIGTERM arrives.
    const inFlight = Array.from({ length: 20 }, (_, n) => {
      const payload = Buffer.from(body(n));
      const half = Math.floor(payload.length / 2);
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/returns',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': payload.length,
        },
      });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      req.write(payload.subarray(0, half));
      return { finish: () => req.end(payload.subarray(half)), answered };
    });
    await sleep(300);
    child.kill('SIGTERM');
    await sleep(300);
    for (const call of inFlight) call.finish();

    const statuses = await Promise.all(inFlight.map((call) => call.answered));
    expect(statuses).toEqual(Array(20).fill(201));
    expect(await exited).toBe(0);
    const [row] =
      await database.sql`select count(*)::int as count from returns where merchant_id = 'shutdown-shop'`;
    expect(row?.count).toBe(20);
    reportHostile('SIGTERM under load: 20 in-flight requests all answered 201, exit code 0');
  });
});
