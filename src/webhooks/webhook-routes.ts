import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { AppError } from '../http/app-error';
import { problemResponses } from '../http/problem';
import { listDeliveries, replayDelivery } from './deliveries';
import { deliveryStatuses } from './webhook-outbox.schema';

const deliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.uuid().describe('The webhook-id receivers see; the same on every attempt and replay'),
    eventType: z.string(),
    subscriptionId: z.string(),
    merchantId: z.string().nullable(),
    recipientId: z.string().nullable(),
    status: z.enum(deliveryStatuses),
    attempts: z.number().int().describe('Attempts in the current round (a replay starts a new round)'),
    replays: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
    deadAt: z.string().nullable(),
    attemptLog: z.array(
      z.object({
        attempt: z.number().int(),
        startedAt: z.string(),
        durationMs: z.number().int(),
        outcome: z.enum(['delivered', 'failed']),
        statusCode: z.number().int().nullable(),
        errorClass: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'WebhookDelivery' });

/** Webhook deliveries with every attempt, and the replay of dead letters. */
export async function webhookRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/v1/webhooks/deliveries',
    {
      config: { scopes: ['webhooks:manage'] },
      schema: {
        tags: ['webhooks'],
        security: [{ bearerAuth: [] }],
        querystring: z.object({
          status: z.enum(deliveryStatuses).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
        response: {
          200: z.object({ items: z.array(deliverySchema) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const items = await listDeliveries(app.database.sql, {
        status: request.query.status,
        limit: request.query.limit,
        merchantId: principal.merchantId,
      });
      return { items };
    },
  );

  routes.post(
    '/v1/webhooks/deliveries/:id/replay',
    {
      config: { scopes: ['webhooks:manage'] },
      schema: {
        tags: ['webhooks'],
        security: [{ bearerAuth: [] }],
        description: 'Puts a dead letter back in the queue; receivers get the same webhook-id again.',
        params: z.object({ id: z.uuid() }),
        response: { 200: deliverySchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const outcome = await replayDelivery(app.database, request.params.id, {
        principal,
        requestId: request.id,
        merchantId: principal.merchantId,
      });
      if (!outcome.replayed) {
        if (outcome.reason === 'not_found') throw new AppError('not_found', 'No such webhook delivery.');
        throw new AppError('conflict', 'Only a dead letter can be replayed.');
      }
      return outcome.delivery;
    },
  );
}
