import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('health, docs and problem+json', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { BODY_LIMIT_BYTES: '2048' },
      register: (app) => {
        app.post(
          '/v1/test-echo-shape',
          {
            config: { scopes: [] },
            schema: { body: z.object({ email: z.email(), quantity: z.number().int().positive() }) },
          },
          async () => ({ ok: true }),
        );
      },
    });
  });

  function expectProblem(
    response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
    status: number,
    code: string,
  ) {
    expect(response.statusCode).toBe(status);
    expect(String(response.headers['content-type'])).toContain('application/problem+json');
    const body = response.json() as Record<string, unknown>;
    expect(body).toMatchObject({ status, code });
    expect(typeof body.type).toBe('string');
    expect(typeof body.title).toBe('string');
    expect(typeof body.detail).toBe('string');
    return body;
  }

  it('answers /health and /ready', async () => {
    expect((await t.app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', policyVersion: t.policies.version });
  });

  it('answers /ready with 503 when a migration is missing', async () => {
    const [last] = await t.database.sql`select id from drizzle.__drizzle_migrations order by id desc limit 1`;
    await t.database.sql`delete from drizzle.__drizzle_migrations where id = ${last!.id}`;
    try {
      expectProblem(await t.app.inject({ url: '/ready' }), 503, 'not_ready');
    } finally {
      await t.database
        .sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${last!.id}, 'restored', 0)`;
    }
  });

  it('publishes an OpenAPI 3.1 document from the route schemas, the docs page and the JWKS', async () => {
    const document = (await t.app.inject({ url: '/openapi.json' })).json();
    expect(document.openapi).toBe('3.1.0');
    expect(document.paths['/v1/me']).toBeDefined();
    expect((await t.app.inject({ url: '/docs/' })).statusCode).toBe(200);
    const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it('reads an empty query parameter as one not sent', async () => {
    const dpo = bearer(await t.token('dpo'));
    const filtered = await t.app.inject({
      url: '/v1/subject-requests?status=&overdue=true&limit=',
      headers: dpo,
    });
    expect(filtered.statusCode, filtered.body).toBe(200);
    const auditor = bearer(await t.token('auditor'));
    for (const query of ['from=&to=', 'from=2025-01-01&to=', 'from=2025-01-01T00:00:00%2B01:00']) {
      const events = await t.app.inject({ url: `/v1/audit/events?${query}`, headers: auditor });
      expect(events.statusCode, `${query}: ${events.body}`).toBe(200);
    }
    // A required parameter sent empty is reported missing.
    const support = { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' };
    const search = await t.app.inject({ url: '/v1/returns?email=', headers: support });
    expect(search.statusCode).toBe(400);
    expect(search.json().errors).toEqual([{ path: 'query.email', message: 'is required' }]);
  });

  it('answers unknown routes and methods with 404 problem+json', async () => {
    expectProblem(await t.app.inject({ url: '/nowhere' }), 404, 'not_found');
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/health' }), 404, 'not_found');
  });

  it('describes validation errors by path and message, without echoing the values', async () => {
    const secretEmail = 'not-an-email-jeanne.dupont';
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/test-echo-shape',
      headers: bearer(await t.token('dpo')),
      payload: { email: secretEmail, quantity: -3 },
    });
    const body = expectProblem(response, 400, 'validation_failed');
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'body.email' }),
        expect.objectContaining({ path: 'body.quantity' }),
      ]),
    );
    expect(response.body).not.toContain(secretEmail);
    expect(t.logs.join('')).not.toContain(secretEmail);
  });

  it('answers malformed JSON, a wrong content type and an oversized body with problem+json', async () => {
    const headers = { ...bearer(await t.token('dpo')) };
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/v1/test-echo-shape',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: '{"email": "marie.curie@example.org", ',
    });
    expectProblem(malformed, 400, 'malformed_body');
    expect(malformed.body).not.toContain('marie.curie');
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/v1/test-echo-shape',
        headers: { ...headers, 'content-type': 'text/csv' },
        payload: 'a,b',
      }),
      415,
      'unsupported_media_type',
    );
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/v1/test-echo-shape',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: JSON.stringify({ email: 'x'.repeat(5000) }),
      }),
      413,
      'payload_too_large',
    );
  });

  it('keeps query values and the authorization header out of the logs, and returns the request id', async () => {
    const token = await t.token('dpo');
    const response = await t.app.inject({
      url: '/v1/me?email=paul.verlaine%40example.org',
      headers: { ...bearer(token), 'x-request-id': 'trace-123' },
    });
    expect(response.headers['x-request-id']).toBe('trace-123');
    const logs = t.logs.join('');
    expect(logs).toContain('trace-123');
    expect(logs).not.toContain('paul.verlaine');
    expect(logs).not.toContain(token);
  });

  it('logs the route pattern, not a path or query key that could hold personal data', async () => {
    const support = { ...bearer(await t.token('support')), 'x-purpose': 'customer_support' };
    const id = '0190f3a4-7b1c-7d2e-8f90-123456789abc';
    await t.app.inject({ url: '/v1/returns/jean.secret@c.fr', headers: support });
    await t.app.inject({ url: `/v1/returns/${id}?anne.secret%40c.fr=1&limit=2`, headers: support });
    await t.app.inject({ url: '/nowhere/marc.secret@c.fr' });
    const logs = t.logs.join('');
    expect(logs).not.toContain('jean.secret');
    expect(logs).not.toContain('anne.secret');
    expect(logs).not.toContain('marc.secret');
    const urls = t.logs.map((line) => JSON.parse(line).req?.url).filter(Boolean);
    expect(urls).toContain('/v1/returns/:id');
    expect(urls).toContain(`/v1/returns/${id}?[unknown]=[redacted]&limit=[redacted]`);
  });

  it('forbids caching and content sniffing of every /v1 answer, errors included', async () => {
    const me = await t.app.inject({ url: '/v1/me', headers: bearer(await t.token('dpo')) });
    const refused = await t.app.inject({ url: '/v1/me' });
    for (const response of [me, refused]) {
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
  });
});
