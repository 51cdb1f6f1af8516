import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportHostile } from '../support/hostile-summary';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { arbitraryFromSchema, type JsonSchema, personalValuesIn } from './json-schema-arbitrary';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body?: JsonSchema;
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }
    >
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

const totalRequests = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const seed = Number(process.env.FUZZ_SEED ?? 20261126);
const summary = { requests: 0, operations: 0, byStatus: new Map<number, number>() };

function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: operation.parameters ?? [],
        body: operation.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return operations;
}

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    "' or 1=1 --",
    '../../etc/passwd',
    '%00',
    '\u0000',
    '😀'.repeat(50),
    'a'.repeat(5000),
    '{"$gt":""}',
    '-1',
    '1e309',
  ),
);

describe('fuzzing every route of the OpenAPI document', () => {
  let t: TestApp;
  let operations: Operation[];
  let document: OpenApiDocument;
  let adminToken: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'warn' } });
    document = (await t.app.inject({ url: '/openapi.json' })).json() as OpenApiDocument;
    operations = operationsOf(document);
    adminToken = await t.token('admin');
  });

  afterAll(() => {
    const statuses = [...summary.byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}:${count}`);
    reportHostile(
      `fuzz: ${summary.requests} requests over ${summary.operations} operations (seed ${seed}); statuses ${statuses.join(' ')}`,
    );
  });

  it(`sends ${totalRequests} generated requests; every answer is < 500, errors are problem+json and echo no personal value`, async () => {
    const resolve = (ref: string): JsonSchema => {
      const name = ref.split('/').pop() ?? '';
      return document.components?.schemas?.[name] ?? {};
    };
    const perOperation = Math.ceil(totalRequests / operations.length);
    summary.operations = operations.length;

    for (const operation of operations) {
      const pathParams = operation.parameters.filter((p) => p.in === 'path');
      const queryParams = operation.parameters.filter((p) => p.in === 'query');
      const headerParams = operation.parameters.filter((p) => p.in === 'header');
      const validBody = operation.body
        ? arbitraryFromSchema(operation.body, resolve)
        : fc.constant(undefined);
      const request = fc.record({
        path: fc.tuple(...pathParams.map(() => fc.oneof(fc.uuid(), hostileString)), fc.constant('')),
        query: fc.tuple(
          ...queryParams.map((param) =>
            fc.option(
              fc.oneof(
                param.schema ? arbitraryFromSchema(param.schema, resolve, param.name) : hostileString,
                hostileString,
              ),
            ),
          ),
          fc.constant(null),
        ),
        headers: fc.tuple(
          ...headerParams.map(() =>
            fc.option(fc.oneof(fc.constantFrom(...t.policies.purposes.map((p) => p.id)), hostileString)),
          ),
          fc.constant(null),
        ),
        body: fc.oneof(
          { weight: 4, arbitrary: validBody },
          { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
          { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
        ),
        authenticated: fc.boolean().map((b) => b || Math.random() < 0.8),
      });

      await fc.assert(
        fc.asyncProperty(request, async (generated) => {
          let url = operation.path;
          pathParams.forEach((param, index) => {
            url = url.replace(`{${param.name}}`, encodeURIComponent(String(generated.path[index]) || 'x'));
          });
          const search = new URLSearchParams();
          queryParams.forEach((param, index) => {
            const value = generated.query[index];
            if (value !== null && value !== undefined)
              search.set(param.name, typeof value === 'string' ? value : JSON.stringify(value));
          });
          const headers: Record<string, string> = generated.authenticated ? bearer(adminToken) : {};
          headerParams.forEach((param, index) => {
            const value = generated.headers[index];
            if (typeof value === 'string') headers[param.name] = value.replace(/[^\x20-\x7e]/g, '');
          });
          const hasBody =
            !['GET', 'HEAD', 'DELETE'].includes(operation.method) && generated.body !== undefined;
          const response = await t.app.inject({
            method: operation.method as 'GET',
            url: `${url}${search.size > 0 ? `?${search}` : ''}`,
            headers: hasBody ? { ...headers, 'content-type': 'application/json' } : headers,
            payload: hasBody ? JSON.stringify(generated.body) : undefined,
          });
          summary.requests += 1;
          summary.byStatus.set(response.statusCode, (summary.byStatus.get(response.statusCode) ?? 0) + 1);
          const context = `${operation.method} ${operation.path} -> ${response.statusCode}`;
          // Readiness alone may say 503: it reports on the database, not on the request.
          if (operation.path !== '/ready') expect(response.statusCode, context).toBeLessThan(500);
          if (response.statusCode >= 400) {
            expect(String(response.headers['content-type']), context).toContain('application/problem+json');
            const sent = [
              ...personalValuesIn(generated.body),
              ...personalValuesIn(Object.fromEntries(search)),
            ];
            for (const value of sent)
              expect(response.body.includes(value), `${context} echoed a personal value`).toBe(false);
          }
        }),
        { numRuns: perOperation, seed, endOnFailure: true },
      );
    }
    expect(summary.requests).toBeGreaterThanOrEqual(totalRequests);
  }, 900_000);

  it('no log line holds a personal value the fuzzer sent', () => {
    const logs = t.logs.join('');
    expect(logs).not.toMatch(/[a-z]{6,12}\.fuzz@example\.org/);
    expect(logs).not.toMatch(/Fuzz [a-z]{6,12}/);
  });
});
