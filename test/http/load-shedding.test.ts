import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bearer, createTestApp } from '../support/test-app';

describe('load shedding', () => {
  it('answers 503 problem+json with Retry-After while the event loop is saturated, then recovers', async () => {
    const t = await createTestApp({ pressure: { maxEventLoopDelayMs: 100, sampleIntervalMs: 100 } });
    const token = await t.token('dpo');
    const statusNow = async () => (await t.app.inject({ url: '/v1/me', headers: bearer(token) })).statusCode;
    const waitForStatus = async (status: number) => {
      for (let attempt = 0; attempt < 100 && (await statusNow()) !== status; attempt++) await sleep(50);
      return statusNow();
    };
    expect(await waitForStatus(200)).toBe(200);

    // Hold the event loop well past the threshold, as a burst of CPU-bound work would.
    const until = Date.now() + 500;
    while (Date.now() < until) {}
    // The sampler runs right after the block; ask before its next sample resets the measure.
    let shed = await t.app.inject({ url: '/v1/me', headers: bearer(token) });
    for (let attempt = 0; attempt < 10 && shed.statusCode !== 503; attempt++) {
      await sleep(5);
      shed = await t.app.inject({ url: '/v1/me', headers: bearer(token) });
    }
    expect(shed.statusCode).toBe(503);
    expect(String(shed.headers['content-type'])).toContain('application/problem+json');
    expect(shed.headers['retry-after']).toBe('5');
    expect(shed.json()).toMatchObject({ code: 'overloaded', status: 503 });

    expect(await waitForStatus(200)).toBe(200);
  });
});
