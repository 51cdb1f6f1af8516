import { connect } from 'node:net';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { returnFor } from '../subject-requests/dsr-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

/** Sends raw bytes and answers everything the server wrote before it closed the connection. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(request);
  });
}

function parseRawResponse(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

describe('the error handler', () => {
  let t: TestApp;
  let port: number;
  const secret = 'Litige Jean Dupont jean.dupont@example.org';
  beforeAll(async () => {
    t = await createTestApp({
      register: (app) => {
        // A query the database refuses (division by zero) with a personal value among its parameters.
        app.get('/test-failing-query', async () => {
          await app.database.db.execute(sql`select length(${secret}) / 0`);
          return { ok: true };
        });
      },
    });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as { port: number }).port;
  });

  it('logs a failed query by type, SQLSTATE and stack frames, never its parameters', async () => {
    const response = await t.app.inject({ url: '/test-failing-query' });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('jean.dupont');
    const logs = t.logs.join('');
    expect(logs).not.toContain('jean.dupont');
    expect(logs).not.toContain('Jean Dupont');
    const line = t.logs.map((entry) => JSON.parse(entry)).find((entry) => entry.msg === 'request failed');
    expect(line.err).toMatchObject({ code: '22012', type: 'DrizzleQueryError' });
    expect(line.err.stack).toMatch(/^\s+at /);
  });

  it('keeps the personal reason of a legal hold out of the logs whatever its answer', async () => {
    const { id } = await returnFor(t, 'errlog1');
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/legal-holds',
      headers: bearer(await t.token('dpo')),
      payload: { returnId: id, reason: secret, until: '9999-12-31T23:00:00-02:00' },
    });
    expect(response.statusCode).toBeLessThan(500);
    expect(t.logs.join('')).not.toContain('jean.dupont');
  });

  it('answers an over-large header with 431 problem+json and closes the connection', async () => {
    const raw = await rawExchange(
      port,
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    const response = parseRawResponse(raw);
    expect(response.status).toBe(431);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.headers.connection).toBe('close');
    expect(response.body).toMatchObject({ status: 431, code: 'headers_too_large' });
  });

  it('answers a malformed header line with 400 problem+json, without echoing it', async () => {
    const raw = await rawExchange(
      port,
      'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\njean.secret@c.fr\r\n\r\n',
    );
    const response = parseRawResponse(raw);
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status: 400, code: 'malformed_request' });
    expect(raw).not.toContain('jean.secret');
    expect(t.logs.join('')).not.toContain('jean.secret');
  });

  it('names an unknown key only when it looks like a field name', async () => {
    const merchant = bearer(await t.token('merchant'));
    const send = (extra: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/v1/returns', headers: merchant, payload: { ...extra } });
    const personal = await send({ 'jean.secret@c.fr': 1 });
    expect(personal.statusCode).toBe(400);
    expect(personal.body).not.toContain('jean.secret');
    expect(personal.json().errors).toContainEqual({ path: 'body', message: 'unknown field' });
    const plain = await send({ extra_field: 1, 'jean.secret@c.fr': 1 });
    expect(plain.body).not.toContain('jean.secret');
    expect(plain.json().errors).toContainEqual({
      path: 'body',
      message: 'Unrecognized key: "extra_field" and unknown field',
    });
  });
});
