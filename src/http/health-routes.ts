import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pendingMigrationCount } from '../db/migrations';
import { publishedKeys } from '../signing/published-keys';
import { AppError } from './app-error';
import { problemResponses } from './problem';

/** Liveness, readiness, the signing keys and process metrics: public, never personal. */
export async function healthRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/health',
    { schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  routes.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        response: {
          200: z.object({ status: z.literal('ready'), policyVersion: z.string() }),
          ...problemResponses(503),
        },
      },
    },
    async () => {
      let pending: number;
      try {
        pending = await pendingMigrationCount(app.database.sql);
      } catch {
        throw new AppError('not_ready', 'The database cannot be reached.');
      }
      if (pending > 0)
        throw new AppError(
          'not_ready',
          `${pending} migration(s) are not applied; run "returnvault migrate".`,
        );
      return { status: 'ready' as const, policyVersion: app.policies.version };
    },
  );

  routes.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['health'],
        description:
          'Public keys that sign erasure certificates and audit checkpoints: the current one first, then every earlier one.',
        response: { 200: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return { keys: await publishedKeys(app.database.db, app.signer) };
    },
  );
}
