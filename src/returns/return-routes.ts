import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { problemResponses } from '../http/problem';
import { resolvePurpose } from './read-purpose';
import { createReturnBodySchema, returnEventBodySchema } from './return-requests';
import {
  createReturn,
  findReturnsByEmail,
  getReturn,
  type ReturnCaller,
  type ReturnDependencies,
  recordReturnEvent,
} from './return-service';
import { createdReturnSchema, returnEventViewSchema, returnViewSchema } from './return-views';

const tags = ['returns'];
const recordedEventSchema = z.object({
  duplicate: z.boolean(),
  event: returnEventViewSchema,
  return: createdReturnSchema,
});
const security = [{ bearerAuth: [] }];
const idParams = z.object({ id: z.uuid('expected a return id (UUID)') });
const purposeHeaders = z.looseObject({
  'x-purpose': z
    .string()
    .max(64, 'must be at most 64 characters')
    .optional()
    .describe('a purpose declared in policies/purposes.yaml'),
});

/** Intake, reads for a declared purpose, and the event timeline of returns (CONTRACT.md, Returns). */
export async function returnRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const deps: ReturnDependencies = {
    db: app.database.db,
    keyring: app.keyring,
    emailIndex: app.emailIndex,
    rules: app.policies.returnRules,
  };
  const callerOf = (request: FastifyRequest, purpose?: string): ReturnCaller => {
    const principal = principalOf(request);
    return { principal, requestId: request.id, purpose, scope: { merchantId: principal.merchantId } };
  };

  routes.post(
    '/v1/returns',
    {
      config: { scopes: ['returns:write'] },
      schema: {
        tags,
        security,
        summary:
          'Create a return (refused with 422 and reasons when not eligible; nothing personal is kept then)',
        body: createReturnBodySchema(app.policies.returnRules),
        response: { 201: createdReturnSchema, ...problemResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const created = await createReturn(deps, callerOf(request), request.body);
      return reply.code(201).send(created);
    },
  );

  routes.get(
    '/v1/returns/:id',
    {
      config: { scopes: ['returns:read'] },
      schema: {
        tags,
        security,
        summary: 'A return with its personal data, timeline and legal clocks, for a declared purpose',
        params: idParams,
        headers: purposeHeaders,
        response: { 200: returnViewSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const purpose = resolvePurpose(app.policies.purposes, request.headers['x-purpose']);
      return getReturn(deps, callerOf(request, purpose.id), request.params.id, purpose);
    },
  );

  routes.get(
    '/v1/returns',
    {
      config: { scopes: ['returns:read'] },
      schema: {
        tags,
        security,
        summary: "A subject's returns, found through the keyed blind index of the e-mail",
        querystring: z.strictObject({
          email: z
            .string()
            .trim()
            .max(254, 'must be at most 254 characters')
            .pipe(z.email('expected an e-mail address')),
        }),
        headers: purposeHeaders,
        response: {
          200: z.object({
            items: z.array(returnViewSchema),
            /** Returns of the subject whose data state the purpose may not read. */
            withheld: z.number().int(),
          }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const purpose = resolvePurpose(app.policies.purposes, request.headers['x-purpose']);
      return findReturnsByEmail(deps, callerOf(request, purpose.id), request.query.email, purpose);
    },
  );

  routes.post(
    '/v1/returns/:id/events',
    {
      config: { scopes: ['returns:write'] },
      schema: {
        tags,
        security,
        summary: 'Record a normalised event or a carrier scan (idempotent; any arrival order)',
        params: idParams,
        body: returnEventBodySchema,
        response: {
          200: recordedEventSchema.describe('the same event was already recorded: duplicate is true'),
          201: recordedEventSchema,
          ...problemResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const result = await recordReturnEvent(deps, callerOf(request), request.params.id, request.body);
      return reply.code(result.duplicate ? 200 : 201).send(result);
    },
  );
}
