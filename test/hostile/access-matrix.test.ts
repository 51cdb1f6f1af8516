import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Role, roleScopes, roles } from '../../src/auth/scopes';
import { reportHostile } from '../support/hostile-summary';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { controllerWideRoutes, routeScopes } from './route-scopes';

interface Operation {
  key: string;
  method: string;
  url: string;
}

const issuer = 'returnvault';
const audience = 'returnvault-api';
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Token cases that must all answer 401 on every protected route. */
function badTokens(secret: string): Record<string, () => Promise<string | undefined>> {
  const sign = (
    build: (jwt: SignJWT) => SignJWT,
    key: string = secret,
    header: Record<string, string> = {},
  ) =>
    build(
      new SignJWT({ scope: Object.values(roleScopes.admin).join(' ') })
        .setProtectedHeader({ alg: 'HS256', ...header })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('matrix')
        .setExpirationTime('5m'),
    ).sign(new TextEncoder().encode(key));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    'no token': async () => undefined,
    'alg none': async () =>
      `${segment({ alg: 'none' })}.${segment({ iss: issuer, aud: audience, sub: 'x', scope: 'keys:manage', exp: now() + 300 })}.`,
    'another key': () => sign((jwt) => jwt, randomBytes(32).toString('hex')),
    'RS256 with an unknown key (HS/RS confusion)': () =>
      new SignJWT({ scope: 'keys:manage' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('x')
        .setExpirationTime('5m')
        .sign(rsa.privateKey),
    expired: () => sign((jwt) => jwt.setExpirationTime(now() - 300)),
    'not yet valid': () => sign((jwt) => jwt.setNotBefore(now() + 300)),
    'wrong issuer': () => sign((jwt) => jwt.setIssuer('evil')),
    'wrong audience': () => sign((jwt) => jwt.setAudience('other')),
    tampered: async () => {
      const [header, payload, signature] = (await sign((jwt) => jwt)).split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
      return `${header}.${segment({ ...claims, sub: 'root' })}.${signature}`;
    },
    'oversized kid': () => sign((jwt) => jwt, secret, { kid: 'k'.repeat(4096) }),
  };
}

describe('access matrix over every protected route', () => {
  let t: TestApp;
  let operations: Operation[];

  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'warn' } });
    const document = (await t.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => ({
          key: `${method.toUpperCase()} ${path}`,
          method: method.toUpperCase(),
          url: path.replace(/\{[^}]+\}/g, randomUUID()),
        })),
      );
  });

  it('lists every /v1 operation of the OpenAPI document in the matrix', () => {
    const unlisted = operations.map((o) => o.key).filter((key) => !(key in routeScopes));
    expect(unlisted).toEqual([]);
  });

  it('answers 401 problem+json to every bad token case on every protected route', async () => {
    const cases = badTokens(t.config.jwt.secret!);
    for (const operation of operations) {
      for (const [name, make] of Object.entries(cases)) {
        const token = await make();
        const response = await t.app.inject({
          method: operation.method as 'GET',
          url: operation.url,
          headers: token ? bearer(token) : {},
        });
        expect(response.statusCode, `${operation.key} with ${name}`).toBe(401);
        expect(String(response.headers['content-type'])).toContain('application/problem+json');
      }
    }
    reportHostile(
      `token matrix: ${operations.length} protected operations x ${Object.keys(cases).length} bad tokens, all 401`,
    );
  });

  it('gives every role the answer the matrix says: 403 without the scopes, past auth with them', async () => {
    for (const role of roles as Role[]) {
      // A backend token names a declared recipient, so the feed answers past the recipient check.
      const token = await t.token(role, role === 'backend' ? { clientId: 'analytics' } : {});
      const granted = new Set<string>(roleScopes[role]);
      for (const operation of operations) {
        const needed = routeScopes[operation.key] ?? [];
        const allowed = needed.every((scope) => granted.has(scope));
        const response = await t.app.inject({
          method: operation.method as 'GET',
          url: operation.url,
          headers: { ...bearer(token), 'x-purpose': 'customer_support' },
        });
        const context = `${role} ${operation.key} -> ${response.statusCode} ${response.body.slice(0, 300)}`;
        // A scope denial is the auth plugin's 403, the one that names the required scopes.
        const scopeDenied = response.statusCode === 403 && 'requiredScopes' in response.json();
        if (allowed) {
          expect(response.statusCode, context).not.toBe(401);
          expect(scopeDenied, context).toBe(false);
          expect(response.statusCode, context).toBeLessThan(500);
        } else {
          expect(scopeDenied, context).toBe(true);
        }
      }
    }
    reportHostile(`role matrix: ${roles.length} roles x ${operations.length} operations as the table says`);
  });

  it('refuses a merchant-limited token on every controller-wide operation, and only there', async () => {
    const token = await t.token('admin', { merchantId: 'm-matrix' });
    for (const operation of operations) {
      const response = await t.app.inject({
        method: operation.method as 'GET',
        url: operation.url,
        headers: { ...bearer(token), 'x-purpose': 'customer_support' },
      });
      const refused = response.statusCode === 403 && response.body.includes('controller-wide');
      const context = `${operation.key} -> ${response.statusCode} ${response.body.slice(0, 200)}`;
      expect(refused, context).toBe(controllerWideRoutes.has(operation.key));
      expect(response.statusCode, context).toBeLessThan(500);
    }
    expect(controllerWideRoutes.size).toBeGreaterThan(15);
  });
});
