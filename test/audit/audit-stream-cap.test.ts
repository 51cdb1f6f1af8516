import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxConcurrentAuditStreams } from '../../src/audit/audit-routes';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

/** A GET whose body is not read: the server's stream stays open, blocked on the full socket. */
function openStalled(url: string, headers: Record<string, string>): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      expect(response.statusCode).toBe(200);
      response.pause();
      resolve(request);
    });
    request.on('error', reject);
  });
}

describe('audit streams per instance', () => {
  let t: TestApp;
  let base: string;
  let auditor: string;
  beforeAll(async () => {
    t = await createTestApp();
    auditor = await t.token('auditor', { sub: 'auditor-1' });
    // Enough events that one NDJSON stream is far larger than the socket buffers.
    await t.database.sql`insert into audit_events (actor, action, outcome, details)
      select 'bench', 'test.filler', 'success', jsonb_build_object('n', n, 'pad', repeat('x', 200))
      from generate_series(1, 30000) as n`;
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('refuses a stream over the cap with 503 problem+json, and takes one again once a stream ends', async () => {
    const stalled = await Promise.all(
      Array.from({ length: maxConcurrentAuditStreams }, () =>
        openStalled(`${base}/v1/audit/events?format=ndjson`, bearer(auditor)),
      ),
    );
    const refused = await fetch(`${base}/v1/audit/events?format=csv`, { headers: bearer(auditor) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await refused.json()) as { code: string }).code).toBe('audit_streams_busy');

    stalled[0]!.destroy();
    await expect
      .poll(
        async () => {
          const response = await fetch(`${base}/v1/audit/events?action=nothing.like.this`, {
            headers: bearer(auditor),
          });
          await response.arrayBuffer();
          return response.status;
        },
        { timeout: 10_000 },
      )
      .toBe(200);
    for (const request of stalled.slice(1)) request.destroy();
  });
});
