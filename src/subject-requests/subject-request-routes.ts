import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { rejectMerchantScopedTokens } from '../auth/controller-wide';
import { problemResponses } from '../http/problem';
import { instant, multilineText } from '../http/request-fields';
import { erasureNoticesOfSubject } from '../pseudonymization/disclosure-register';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { subjectPackageSchema } from './access-package';
import { maxExtensionMonths } from './calendar-month';
import { executeSubjectRequest, liftRestriction, subjectRequestPackage } from './execute-request';
import { contactChangesSchema } from './rectification-changes';
import {
  createSubjectRequest,
  extendSubjectRequest,
  findSubjectRequest,
  listSubjectRequests,
  rejectSubjectRequest,
  verifySubjectRequest,
} from './request-lifecycle';
import { type RequestReasons, requestReasons } from './request-reasons';
import type { SubjectRequestDeps } from './subject-request-deps';
import { subjectRequestSchema, toSubjectRequestView } from './subject-request-view';
import {
  type SubjectRequestRow,
  subjectRequestStatuses,
  subjectRequestTypes,
  verificationMethods,
} from './subject-requests.schema';

const reasonText = multilineText(1000);
/** GDPR Art. 99(2): no request could be received before the regulation applied. */
const gdprApplies = Date.UTC(2018, 4, 25);
const idParams = z.strictObject({ id: z.uuid() });
const auditContext = (request: FastifyRequest) => ({
  principal: principalOf(request),
  requestId: request.id,
  purpose: 'data_subject_request',
});

/** Data-subject requests (`dsr:manage`), GDPR Art. 12 to 20 (CONTRACT.md). */
export async function subjectRequestRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  app.addHook('onRequest', rejectMerchantScopedTokens);
  const deps: SubjectRequestDeps = {
    db: app.database.db,
    emailIndex: app.emailIndex,
    keyring: app.keyring,
    policies: app.policies,
    signer: app.signer,
    pseudonymsOf: createPseudonymKeys(app.config.pseudonymSecret),
  };
  const common = { tags: ['subject-requests'], security: [{ bearerAuth: [] }] };
  const config = { scopes: ['dsr:manage'] as const };
  const views = async (rows: SubjectRequestRow[], given: Partial<RequestReasons> = {}) => {
    const reasons = await requestReasons(app.database.db, app.keyring, rows);
    const now = new Date();
    return rows.map((row) => toSubjectRequestView(row, { ...reasons.get(row.id)!, ...given }, now));
  };
  /**
   * `given`: the answer to a decision carries its reason as the caller gave it, to pass on to the
   * person, also when none is kept (a request on an e-mail nothing is held on).
   */
  const view = async (row: SubjectRequestRow, given?: Partial<RequestReasons>) =>
    (await views([row], given))[0]!;

  const createBody = z
    .strictObject({
      type: z.enum(subjectRequestTypes),
      email: z
        .string()
        .trim()
        .max(254, 'must be at most 254 characters')
        .pipe(z.email('expected an e-mail address')),
      // "Not in the future" is checked against the clock of the request, in createSubjectRequest.
      receivedAt: instant
        .refine((date) => date.getTime() >= gdprApplies, 'must not be before 2018-05-25 (GDPR applies)')
        .optional(),
      channel: z
        .string()
        .regex(/^[a-z][a-z0-9_]{0,31}$/, 'expected a snake_case channel such as email or web_form')
        .optional(),
      changes: contactChangesSchema(app.policies.returnRules).optional(),
    })
    .superRefine((body, context) => {
      if (body.type === 'rectification' && !body.changes) {
        context.addIssue({ code: 'custom', path: ['changes'], message: 'is required for a rectification' });
      }
      if (body.type !== 'rectification' && body.changes) {
        context.addIssue({
          code: 'custom',
          path: ['changes'],
          message: 'is accepted only for a rectification',
        });
      }
    });

  routes.post(
    '/v1/subject-requests',
    {
      config,
      schema: {
        ...common,
        summary: 'Record a data-subject request; due one calendar month after receipt',
        body: createBody,
        response: { 201: subjectRequestSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const row = await createSubjectRequest(deps, auditContext(request), request.body, new Date());
      return reply.code(201).send(await view(row));
    },
  );

  routes.get(
    '/v1/subject-requests',
    {
      config,
      schema: {
        ...common,
        summary: 'List requests by deadline; overdue=true gives the late ones',
        querystring: z.strictObject({
          status: z.enum(subjectRequestStatuses).optional(),
          overdue: z.enum(['true', 'false']).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
        response: {
          200: z.object({ items: z.array(subjectRequestSchema) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { status, overdue, limit } = request.query;
      const rows = await listSubjectRequests(
        deps,
        { status, overdue: overdue === 'true', limit },
        new Date(),
      );
      return { items: await views(rows) };
    },
  );

  routes.get(
    '/v1/subject-requests/:id',
    {
      config,
      schema: {
        ...common,
        summary: 'One request, with its deadlines, decisions and result',
        params: idParams,
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const found = await findSubjectRequest(deps, request.params.id);
      if (found.type !== 'erasure' || found.subjectId === null) return view(found);
      const notices = await erasureNoticesOfSubject(app.database.db, found.subjectId);
      return {
        ...(await view(found)),
        recipients: notices.map((notice) => ({
          ...notice,
          lastDisclosedAt: notice.lastDisclosedAt?.toISOString() ?? null,
          lastToldAt: notice.lastToldAt?.toISOString() ?? null,
        })),
      };
    },
  );

  routes.post(
    '/v1/subject-requests/:id/verify',
    {
      config,
      schema: {
        ...common,
        summary: "Record how the requester's identity was verified (Art. 12(6))",
        params: idParams,
        body: z.strictObject({
          method: z.enum(verificationMethods),
          // Accepted for the caller's workflow, never stored: free text could hold personal data.
          note: z.string().max(1000).optional(),
        }),
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(
        await verifySubjectRequest(
          deps,
          auditContext(request),
          request.params.id,
          request.body.method,
          new Date(),
        ),
      ),
  );

  routes.post(
    '/v1/subject-requests/:id/extend',
    {
      config,
      schema: {
        ...common,
        summary: 'Extend the deadline once, by at most two months, within the first month (Art. 12(3))',
        params: idParams,
        body: z.strictObject({
          reason: reasonText,
          months: z.number().int().min(1).max(maxExtensionMonths).default(maxExtensionMonths),
        }),
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(
        await extendSubjectRequest(deps, auditContext(request), request.params.id, request.body, new Date()),
        { extension: request.body.reason },
      ),
  );

  routes.post(
    '/v1/subject-requests/:id/reject',
    {
      config,
      schema: {
        ...common,
        summary: 'Refuse the request, with the reason given to the person (Art. 12(4))',
        params: idParams,
        body: z.strictObject({ reason: reasonText }),
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(
        await rejectSubjectRequest(
          deps,
          auditContext(request),
          request.params.id,
          request.body.reason,
          new Date(),
        ),
        { rejection: request.body.reason },
      ),
  );

  routes.post(
    '/v1/subject-requests/:id/execute',
    {
      config,
      schema: {
        ...common,
        summary:
          'Carry out a verified request; 409 when not verified; again on a completed one answers its result',
        params: idParams,
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(await executeSubjectRequest(deps, auditContext(request), request.params.id, new Date())),
  );

  routes.post(
    '/v1/subject-requests/:id/lift-restriction',
    {
      config,
      schema: {
        ...common,
        summary: 'Lift the restriction a completed restriction request placed (Art. 18(3))',
        params: idParams,
        response: { 200: subjectRequestSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(await liftRestriction(deps, auditContext(request), request.params.id, new Date())),
  );

  routes.get(
    '/v1/subject-requests/:id/package',
    {
      config,
      schema: {
        ...common,
        summary: 'The access (Art. 15) or portability (Art. 20) package, as one JSON document',
        params: idParams,
        response: { 200: subjectPackageSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return subjectRequestPackage(deps, auditContext(request), request.params.id, new Date());
    },
  );
}
