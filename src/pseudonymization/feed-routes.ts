import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { AppError } from '../http/app-error';
import { problemResponses } from '../http/problem';
import { startDisclosureLogFolder } from './disclosure-log-folder';
import { feedPageSchema } from './feed-item';
import { createFeedPages, defaultFeedLimit, maxFeedLimit } from './feed-page';
import { recipientOf } from './feed-recipient';
import { createPseudonymKeys } from './pseudonyms';

/** Limits of a token that names no recipient: it gets 403 anyway, but cannot flood the check either. */
const unknownRecipientLimit = { max: 60, windowSeconds: 60 };

/** GET /v1/pseudonymized/returns: the pseudonymized feed of one recipient (CONTRACT.md). */
export async function pseudonymizedFeedRoutes(app: FastifyInstance) {
  const keysOf = createPseudonymKeys(app.config.pseudonymSecret);
  const pages = createFeedPages(app.database.db);
  // Moves the disclosures each served page logged into the register, off the request path.
  const disclosureLog = startDisclosureLogFolder(app.database.db, app.log);
  app.addHook('onClose', async () => {
    await pages.close();
    await disclosureLog.stop();
  });
  const limitsOf = (request: FastifyRequest) =>
    app.policies.recipients.find((r) => r.id === request.principal?.clientId)?.rateLimit ??
    unknownRecipientLimit;

  // Scoped to this plugin; counted per recipient after authentication (preHandler), not per IP.
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: (request) => `recipient:${principalOf(request).clientId}`,
    max: async (request) => limitsOf(request).max,
    timeWindow: async (request) => limitsOf(request).windowSeconds * 1000,
    errorResponseBuilder: (_request, context) =>
      new AppError('rate_limited', `This recipient may make ${context.max} requests per ${context.after}.`),
  });

  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/pseudonymized/returns',
    {
      config: { scopes: ['pseudo:read'], rateLimit: {} },
      schema: {
        tags: ['pseudonymized feed'],
        summary: 'Pseudonymized returns changed after a cursor, in commit order',
        description:
          'Items hold only the fields the calling recipient (the token client_id, else sub) is allowed in ' +
          'policies/recipients.yaml, with per-recipient pseudonyms and generalised places and dates. ' +
          'Changed returns re-appear; erased ones appear as { id, erased: true }. Keep `next` and send it ' +
          'back as `after`.',
        security: [{ bearerAuth: [] }],
        querystring: z.object({
          after: z.string().max(200).optional().describe('the `next` of the previous page; absent to start'),
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .default(defaultFeedLimit)
            .describe(`page size, at most ${maxFeedLimit} (larger values are capped)`),
        }),
        response: {
          200: feedPageSchema,
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const recipient = recipientOf(app.policies.recipients, principal);
      const body = await pages.read({
        recipient,
        keys: keysOf(recipient.id),
        after: request.query.after,
        limit: request.query.limit,
        merchantId: principal.merchantId,
        audit: { principal, requestId: request.id },
      });
      disclosureLog.pageServed();
      // The page is already JSON (feed-page.ts): a string with a JSON content type is sent as it is, not
      // serialized or validated again. The response schema documents it; the tests check every page.
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(body);
    },
  );
}
