import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { DestinationStream } from 'pino';
import { auditRoutes } from './audit/audit-routes';
import { authPlugin } from './auth/auth-plugin';
import { meRoutes } from './auth/me-routes';
import type { AppConfig } from './config/app-config';
import { EmailBlindIndex } from './crypto/blind-index';
import { verifyEncryptionMap } from './crypto/encryption-map';
import { MasterKeyring } from './crypto/master-keyring';
import type { DatabaseHandle } from './db/database';
import { pendingMigrationCount } from './db/migrations';
import './db/schema-modules';
import { AppError } from './http/app-error';
import {
  handleClientError,
  handleFrameworkError,
  registerErrorHandling,
  sendProblem,
} from './http/error-handler';
import './http/validation-messages';
import { healthRoutes } from './http/health-routes';
import { loggerOptions } from './http/logging';
import { metricsRoutes } from './http/metrics';
import { keyRoutes } from './keys/key-routes';
import { RotationWorker } from './keys/rotation-worker';
import { legalHoldRoutes } from './legal-holds/legal-hold-routes';
import type { Policies } from './policies/load-policies';
import { pseudonymizedFeedRoutes } from './pseudonymization/feed-routes';
import { retentionRoutes } from './retention/retention-routes';
import { returnRoutes } from './returns/return-routes';
import { ropaRoutes } from './ropa/ropa-routes';
import { publishSigningKey } from './signing/published-keys';
import type { Signer } from './signing/signing-key';
import { subjectRequestRoutes } from './subject-requests/subject-request-routes';
import { webhookRoutes } from './webhooks/webhook-routes';

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig;
    policies: Policies;
    database: DatabaseHandle;
    signer: Signer;
    keyring: MasterKeyring;
    emailIndex: EmailBlindIndex;
    rotationWorker: RotationWorker;
  }
}

export interface AppDependencies {
  config: AppConfig;
  policies: Policies;
  database: DatabaseHandle;
  signer: Signer;
  /** Where logs go; tests capture them to prove no personal value is logged. */
  logStream?: DestinationStream;
  /** Event-loop delay (ms) past which requests are shed with 503, and how often it is sampled. */
  maxEventLoopDelayMs?: number;
  pressureSampleIntervalMs?: number;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * What waits for every migration to be applied, before the instance signs anything: the full
 * encryption-map check (refusing a schema that lacks a declared column) and publishing the signing
 * key, for good, so what it signs verifies after SIGNING_KEY changes. buildApp does it when the schema
 * is complete at start; a server started before `returnvault migrate` does it once the migrations are
 * applied, before its background jobs (src/server/background-jobs.ts).
 */
export async function checkSchemaAndPublishSigningKey(
  database: DatabaseHandle,
  signer: Signer,
): Promise<void> {
  await verifyEncryptionMap(database.sql, { schemaComplete: true });
  await publishSigningKey(database.db, signer);
}

/** Builds the application without listening: the server entry and the tests both use it. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logStream
      ? { ...loggerOptions(deps.config.logLevel), stream: deps.logStream }
      : loggerOptions(deps.config.logLevel),
    bodyLimit: deps.config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
    },
    // A slow client cannot hold a connection forever.
    connectionTimeout: deps.config.requestTimeoutMs,
    requestTimeout: deps.config.requestTimeoutMs * 2,
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
    ajv: { customOptions: { coerceTypes: false } },
  });

  app.decorate('config', deps.config);
  app.decorate('policies', deps.policies);
  app.decorate('database', deps.database);
  app.decorate('signer', deps.signer);
  app.decorate('keyring', new MasterKeyring(deps.config.masterKeys));
  app.decorate('emailIndex', new EmailBlindIndex(deps.config.blindIndexKeys));
  // POST /v1/keys/rotate kicks it; the background jobs kick it at start, to resume a job left running.
  app.decorate('rotationWorker', new RotationWorker(deps.database, app.keyring, app.log));
  app.addHook('onClose', async () => app.rotationWorker.stop());
  // Refuses to start when a personal (bytea *_enc) column is not declared in the encryption map; with
  // migrations pending, only the columns already there can be checked.
  const schemaComplete = (await pendingMigrationCount(deps.database.sql)) === 0;
  if (schemaComplete) await checkSchemaAndPublishSigningKey(deps.database, deps.signer);
  else await verifyEncryptionMap(deps.database.sql, { schemaComplete });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // API answers carry decrypted personal data: no shared or browser cache may keep them, and no
    // browser may read a JSON body as HTML.
    if (request.url.startsWith('/v1/')) {
      reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
    }
  });
  // A query parameter sent empty (`?status=&overdue=true`, as forms and URL templates send them) is one
  // not sent: an optional filter is then off, and a required one is reported missing.
  app.addHook('preValidation', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (!query) return;
    for (const [name, value] of Object.entries(query)) if (value === '') delete query[name];
  });

  await app.register(underPressure, {
    maxEventLoopDelay: deps.maxEventLoopDelayMs ?? 1000,
    sampleInterval: deps.pressureSampleIntervalMs ?? 1000,
    retryAfter: 5,
    pressureHandler: (request, reply) => {
      reply.header('retry-after', '5');
      sendProblem(reply, new AppError('overloaded', 'The service is overloaded; retry shortly.'), request.id);
    },
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'returnvault',
        version: '0.1.0',
        description:
          'Personal data of parcel returns, kept GDPR-compliant: encrypted, audited, retained and erased by policy.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(authPlugin, deps.config.jwt);
  await app.register(healthRoutes);
  await app.register(metricsRoutes);
  await app.register(meRoutes);
  await app.register(returnRoutes);
  await app.register(keyRoutes);
  await app.register(auditRoutes);
  await app.register(webhookRoutes);
  await app.register(pseudonymizedFeedRoutes);
  await app.register(retentionRoutes);
  await app.register(subjectRequestRoutes);
  await app.register(legalHoldRoutes);
  await app.register(ropaRoutes);

  return app;
}
