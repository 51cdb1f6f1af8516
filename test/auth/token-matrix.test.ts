import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

const issuer = 'returnvault';
const audience = 'returnvault-api';

function encodeSegment(value: unknown) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function hsToken(
  secret: string,
  claims: Record<string, unknown>,
  build?: (jwt: SignJWT) => SignJWT,
  header: Record<string, string> = {},
) {
  let jwt = new SignJWT({ scope: 'dsr:manage', ...claims })
    .setProtectedHeader({ alg: 'HS256', ...header })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject('tester')
    .setIssuedAt()
    .setExpirationTime('10m');
  if (build) jwt = build(jwt);
  return jwt.sign(new TextEncoder().encode(secret));
}

describe('bearer tokens (HS256)', () => {
  let t: TestApp;
  let secret: string;
  beforeAll(async () => {
    t = await createTestApp({
      register: (app) =>
        app.get('/v1/test-needs-keys', { config: { scopes: ['keys:manage'] } }, async () => ({ ok: true })),
    });
    secret = t.config.jwt.secret!;
  });

  const me = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/v1/me', headers });

  it('accepts a valid token and echoes its claims', async () => {
    const token = await t.token('backend', { sub: 'bi-1', clientId: 'analytics', merchantId: 'm-7' });
    const response = await me(bearer(token));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      sub: 'bi-1',
      scopes: ['pseudo:read'],
      clientId: 'analytics',
      merchantId: 'm-7',
    });
  });

  it('reads the scheme name in any case', async () => {
    const token = await t.token('backend', { sub: 'bi-2', clientId: 'analytics' });
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const response = await me({ authorization: `${scheme} ${token}` });
      expect(response.statusCode, scheme).toBe(200);
      expect(response.json().sub).toBe('bi-2');
    }
  });

  const invalidCases: Array<[string, () => Promise<Record<string, string>>]> = [
    ['no token', async () => ({})],
    [
      'not a bearer scheme',
      async () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }),
    ],
    [
      'alg none',
      async () =>
        bearer(
          `${encodeSegment({ alg: 'none', typ: 'JWT' })}.${encodeSegment({ iss: issuer, aud: audience, sub: 'x', scope: 'dsr:manage', exp: Math.floor(Date.now() / 1000) + 600 })}.`,
        ),
    ],
    ['signed with another key', async () => bearer(await hsToken(randomBytes(32).toString('hex'), {}))],
    [
      'expired',
      async () =>
        bearer(
          await hsToken(secret, {}, (jwt) => jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 120)),
        ),
    ],
    [
      'not yet valid',
      async () =>
        bearer(await hsToken(secret, {}, (jwt) => jwt.setNotBefore(Math.floor(Date.now() / 1000) + 600))),
    ],
    ['wrong issuer', async () => bearer(await hsToken(secret, {}, (jwt) => jwt.setIssuer('someone-else')))],
    // A merchant limit that cannot be read must not become no limit at all.
    ...[42, ['m-1'], '', null, { id: 'm-1' }].map(
      (merchantId): [string, () => Promise<Record<string, string>>] => [
        `merchant_id ${JSON.stringify(merchantId)}`,
        async () => bearer(await hsToken(secret, { merchant_id: merchantId })),
      ],
    ),
    ['client_id 7', async () => bearer(await hsToken(secret, { client_id: 7 }))],
    [
      'wrong audience',
      async () => bearer(await hsToken(secret, {}, (jwt) => jwt.setAudience('another-api'))),
    ],
    [
      'without exp',
      async () =>
        bearer(
          await new SignJWT({ scope: 'dsr:manage' })
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer(issuer)
            .setAudience(audience)
            .setSubject('x')
            .sign(new TextEncoder().encode(secret)),
        ),
    ],
    [
      'without sub',
      async () =>
        bearer(
          await new SignJWT({ scope: 'dsr:manage' })
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer(issuer)
            .setAudience(audience)
            .setExpirationTime('5m')
            .sign(new TextEncoder().encode(secret)),
        ),
    ],
    [
      'tampered payload',
      async () => {
        const [header, , signature] = (await hsToken(secret, {})).split('.');
        const forged = encodeSegment({
          iss: issuer,
          aud: audience,
          sub: 'root',
          scope: 'keys:manage',
          exp: Math.floor(Date.now() / 1000) + 600,
        });
        return bearer(`${header}.${forged}.${signature}`);
      },
    ],
    ['garbage', async () => bearer('not.a.jwt')],
    ['oversized kid', async () => bearer(await hsToken(secret, {}, undefined, { kid: 'k'.repeat(5000) }))],
  ];

  it.each(invalidCases)('rejects %s with 401 problem+json', async (_name, headersOf) => {
    const response = await me(await headersOf());
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('refuses a token once expired even after it was accepted (the verified-token cache keeps exp)', async () => {
    // Expired 3 to 4 s ago, inside the 5 s clock tolerance: accepted, and cached.
    const token = await hsToken(secret, {}, (jwt) =>
      jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 3),
    );
    expect((await me(bearer(token))).statusCode).toBe(200);
    expect((await me(bearer(token))).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await me(bearer(token))).statusCode).toBe(401);
  });

  it('answers 403 to a valid token that lacks the scope, naming it', async () => {
    const denied = await t.app.inject({ url: '/v1/test-needs-keys', headers: bearer(await t.token('dpo')) });
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ code: 'forbidden', requiredScopes: ['keys:manage'] });
    expect(denied.json().detail).toContain('keys:manage');
    const allowed = await t.app.inject({
      url: '/v1/test-needs-keys',
      headers: bearer(await t.token('admin')),
    });
    expect(allowed.statusCode).toBe(200);
  });

  it('records every refused request as an audit event without the token', async () => {
    await me({});
    const rows = await t.database
      .sql`select actor, outcome, details from audit_events where action = 'auth.denied'`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.outcome === 'denied')).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });
});

describe('bearer tokens from an identity provider', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPublicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();

  it('accepts RS256 with JWT_PUBLIC_KEY and refuses HS256 signed with that public key (algorithm confusion)', async () => {
    const t = await createTestApp({ env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsaPublicPem } });
    const good = await new SignJWT({ scope: 'dsr:manage' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('idp-user')
      .setExpirationTime('5m')
      .sign(rsa.privateKey);
    expect((await t.app.inject({ url: '/v1/me', headers: bearer(good) })).statusCode).toBe(200);
    const confused = await hsToken(rsaPublicPem, {});
    expect((await t.app.inject({ url: '/v1/me', headers: bearer(confused) })).statusCode).toBe(401);
  });

  it('accepts EdDSA and ES256 keys published at JWT_JWKS_URL, and refuses an unknown kid', async () => {
    const { createServer } = await import('node:http');
    const { exportJWK } = await import('jose');
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwks = {
      keys: [
        { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' },
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      ],
    };
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const t = await createTestApp({
        env: { JWT_SECRET: undefined, JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` },
      });
      const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0]) =>
        new SignJWT({ scope: 'audit:read' })
          .setProtectedHeader({ alg, kid })
          .setIssuer(issuer)
          .setAudience(audience)
          .setSubject('idp-user')
          .setExpirationTime('5m')
          .sign(key);
      expect(
        (await t.app.inject({ url: '/v1/me', headers: bearer(await sign('EdDSA', 'ed-1', ed.privateKey)) }))
          .statusCode,
      ).toBe(200);
      expect(
        (await t.app.inject({ url: '/v1/me', headers: bearer(await sign('ES256', 'ec-1', ec.privateKey)) }))
          .statusCode,
      ).toBe(200);
      const other = generateKeyPairSync('ed25519');
      expect(
        (
          await t.app.inject({
            url: '/v1/me',
            headers: bearer(await sign('EdDSA', 'ed-2', other.privateKey)),
          })
        ).statusCode,
      ).toBe(401);
      expect(
        (
          await t.app.inject({
            url: '/v1/me',
            headers: bearer(await sign('EdDSA', 'ed-1', other.privateKey)),
          })
        ).statusCode,
      ).toBe(401);
    } finally {
      server.close();
    }
  });

  it('answers 503, not 401, while the key set at JWT_JWKS_URL cannot be fetched', async () => {
    const { createServer } = await import('node:http');
    // A port that was just free: nothing answers there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const t = await createTestApp({
      env: { JWT_SECRET: undefined, JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` },
    });
    const ed = generateKeyPairSync('ed25519');
    const token = await new SignJWT({ scope: 'audit:read' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('idp-user')
      .setExpirationTime('5m')
      .sign(ed.privateKey);
    const response = await t.app.inject({ url: '/v1/me', headers: bearer(token) });
    expect(response.statusCode, response.body).toBe(503);
    expect(response.json()).toMatchObject({ code: 'auth_keys_unavailable' });
  });
});
