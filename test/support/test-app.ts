import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll } from 'vitest';
import { buildApp } from '../../src/app';
import { type MintOptions, mintToken } from '../../src/auth/mint-token';
import type { Role } from '../../src/auth/scopes';
import { type AppConfig, resolveAppConfig } from '../../src/config/app-config';
import { loadPolicies, type Policies } from '../../src/policies/load-policies';
import { createSigner } from '../../src/signing/signing-key';
import { createTestDatabase, type TestDatabase } from './test-database';

/** Secrets generated per test run, passed as environment so the real config parser reads them. */
export function testEnvironment(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEYS: `v1:${randomBytes(32).toString('base64')}`,
    PSEUDONYM_SECRET: randomBytes(32).toString('base64'),
    SIGNING_KEY: generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString(),
    ...overrides,
  };
}

export interface TestApp {
  app: FastifyInstance;
  config: AppConfig;
  policies: Policies;
  database: TestDatabase;
  /** Every log line the app wrote, for scans that prove no personal value was logged. */
  logs: string[];
  token(role: Role, options?: Omit<MintOptions, 'role'>): Promise<string>;
}

/** Builds the real app on a fresh database, with captured logs; closed when the file ends. */
export async function createTestApp(
  options: {
    env?: Record<string, string | undefined>;
    database?: TestDatabase;
    policies?: Policies;
    /** Load-shedding thresholds, for the test that proves it. */
    pressure?: { maxEventLoopDelayMs: number; sampleIntervalMs: number };
    /** Extra routes for a test, registered before the app is ready. */
    register?: (app: FastifyInstance) => void;
  } = {},
): Promise<TestApp> {
  const config = resolveAppConfig(testEnvironment(options.env));
  const policies = options.policies ?? loadPolicies(config.policiesDir);
  const database = options.database ?? (await createTestDatabase());
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = await buildApp({
    config,
    policies,
    database,
    signer: await createSigner(config.signingKeyPem),
    logStream,
    // Off unless a test asks for it: a loaded CI machine would otherwise shed the suite's own requests.
    maxEventLoopDelayMs: options.pressure?.maxEventLoopDelayMs ?? 0,
    pressureSampleIntervalMs: options.pressure?.sampleIntervalMs,
  });
  options.register?.(app);
  await app.ready();
  afterAll(() => app.close());
  return {
    app,
    config,
    policies,
    database,
    logs,
    token: (role, tokenOptions = {}) => mintToken(config.jwt, { role, ...tokenOptions }),
  };
}

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}
