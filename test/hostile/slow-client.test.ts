import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { reportHostile } from '../support/hostile-summary';
import { createTestApp, type TestApp } from '../support/test-app';

describe('a slow client', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as { port: number }).port;
  });

  it('cannot hold a connection open by never finishing its request', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const started = Date.now();
    // Headers never end: a slowloris client.
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const closedAfter = await new Promise<number>((resolve) => {
      socket.once('close', () => resolve(Date.now() - started));
      socket.resume();
    });
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(15_000);
    reportHostile(`slow client: a never-finished request was cut after ${closedAfter} ms (timeout 1000 ms)`);
  });
});
