import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { rejectMerchantScopedTokens } from '../auth/controller-wide';
import { problemResponses } from '../http/problem';
import { instant, multilineText } from '../http/request-fields';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { holdReasons } from './hold-reasons';
import type { LegalHoldRow } from './legal-holds.schema';
import { createLegalHold, listLegalHolds, releaseLegalHold } from './manage-legal-holds';

const legalHoldSchema = z
  .object({
    id: z.uuid(),
    on: z.enum(['subject', 'return']),
    subjectId: z.uuid().nullable(),
    returnId: z.uuid().nullable(),
    /** Null when not kept: the subject has been erased since (the reason went with its contact key). */
    reason: z.string().nullable(),
    until: z.string().nullable(),
    active: z.boolean(),
    createdBy: z.string(),
    createdAt: z.string(),
    releasedBy: z.string().nullable(),
    releasedAt: z.string().nullable(),
  })
  .meta({ id: 'LegalHold' });

function toView(
  hold: LegalHoldRow,
  reason: string | null,
  now = new Date(),
): z.infer<typeof legalHoldSchema> {
  return {
    id: hold.id,
    on: hold.returnId ? 'return' : 'subject',
    subjectId: hold.subjectId,
    returnId: hold.returnId,
    reason,
    until: hold.until?.toISOString() ?? null,
    active: hold.releasedAt === null && (hold.until === null || hold.until > now),
    createdBy: hold.createdBy,
    createdAt: hold.createdAt.toISOString(),
    releasedBy: hold.releasedBy,
    releasedAt: hold.releasedAt?.toISOString() ?? null,
  };
}

const createBodySchema = z
  .strictObject({
    email: z.string().trim().max(254).pipe(z.email('expected an e-mail address')).optional(),
    returnId: z.uuid().optional(),
    reason: multilineText(1000),
    until: instant.refine((date) => date.getTime() > Date.now(), 'must be in the future').optional(),
  })
  .refine((body) => (body.email === undefined) !== (body.returnId === undefined), {
    message: 'send exactly one of email or returnId',
    path: ['email'],
  });

const auditContext = (request: FastifyRequest) => ({
  principal: principalOf(request),
  requestId: request.id,
});

/** Legal holds (`dsr:manage`): what they cover is kept out of erasure and retention. */
export async function legalHoldRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  app.addHook('onRequest', rejectMerchantScopedTokens);
  const common = { tags: ['legal-holds'], security: [{ bearerAuth: [] }] };
  const views = async (holds: LegalHoldRow[]) => {
    const reasons = await holdReasons(app.database.db, app.keyring, holds);
    return holds.map((hold) => toView(hold, reasons.get(hold.id) ?? null));
  };
  const releaseDeps = {
    policies: app.policies,
    pseudonymsOf: createPseudonymKeys(app.config.pseudonymSecret),
    signer: app.signer,
  };

  routes.post(
    '/v1/legal-holds',
    {
      config: { scopes: ['dsr:manage'] },
      schema: {
        ...common,
        summary: 'Place a legal hold on a subject (by e-mail) or on one return',
        body: createBodySchema,
        response: { 201: legalHoldSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const hold = await createLegalHold(
        app.database.db,
        { emailIndex: app.emailIndex, keyring: app.keyring },
        auditContext(request),
        request.body,
      );
      const [view] = await views([hold]);
      return reply.code(201).send(view!);
    },
  );

  routes.get(
    '/v1/legal-holds',
    {
      config: { scopes: ['dsr:manage'] },
      schema: {
        ...common,
        summary: 'List legal holds, newest first',
        querystring: z.strictObject({
          released: z.enum(['true', 'false']).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
        response: { 200: z.object({ items: z.array(legalHoldSchema) }), ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const released = request.query.released === undefined ? undefined : request.query.released === 'true';
      const holds = await listLegalHolds(app.database.db, { released, limit: request.query.limit });
      return { items: await views(holds) };
    },
  );

  routes.delete(
    '/v1/legal-holds/:id',
    {
      config: { scopes: ['dsr:manage'] },
      schema: {
        ...common,
        summary: 'Release a legal hold (idempotent)',
        params: z.strictObject({ id: z.uuid() }),
        response: { 200: legalHoldSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const hold = await releaseLegalHold(
        app.database.db,
        releaseDeps,
        auditContext(request),
        request.params.id,
      );
      const [view] = await views([hold]);
      return view!;
    },
  );
}
