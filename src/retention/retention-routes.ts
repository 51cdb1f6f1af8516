import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { rejectMerchantScopedTokens } from '../auth/controller-wide';
import { problemResponses } from '../http/problem';
import { instantOrDate } from '../http/request-fields';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { futureAsOfProblem } from './as-of-date';
import {
  previewRetention,
  type RetentionDependencies,
  type RunSummary,
  runRetention,
  summarizeRun,
} from './retention-engine';
import { listRuns } from './retention-run-store';

const ruleSummarySchema = z.object({
  ruleId: z.string(),
  dataClass: z.string(),
  action: z.string(),
  duration: z.string(),
  status: z.string(),
  done: z.number().int(),
  skippedHeld: z.number().int(),
  failed: z.number().int(),
  batches: z.number().int(),
  durationMs: z.number().int().nullable(),
  note: z.string().nullable(),
});

const runSummarySchema = z
  .object({
    runId: z.string().nullable(),
    status: z.string(),
    trigger: z.string(),
    dryRun: z.boolean(),
    resumed: z.boolean(),
    asOf: z.string(),
    policyVersion: z.string(),
    attempts: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    rules: z.array(ruleSummarySchema),
    totals: z.object({ done: z.number().int(), skippedHeld: z.number().int(), failed: z.number().int() }),
  })
  .meta({ id: 'RetentionRun' });

function runJson(summary: RunSummary): z.infer<typeof runSummarySchema> {
  return {
    ...summary,
    asOf: summary.asOf.toISOString(),
    startedAt: summary.startedAt.toISOString(),
    finishedAt: summary.finishedAt?.toISOString() ?? null,
  };
}

const security = [{ bearerAuth: [] }];

/** The body of POST /v1/retention/run; no body at all is an empty one. */
const runBodySchema = z.preprocess(
  (body) => body ?? {},
  z
    .object({ dryRun: z.boolean().default(false), asOf: instantOrDate.optional() })
    .superRefine((body, context) => {
      // Zod runs this even when asOf failed its own check and is still a string.
      const asOf: unknown = body.asOf;
      const problem = asOf instanceof Date ? futureAsOfProblem(asOf, body.dryRun) : undefined;
      if (problem) context.addIssue({ code: 'custom', path: ['asOf'], message: problem });
    }),
);

/** DPO endpoints: the retention rules, what is due as of a date, runs and their history. */
export async function retentionRoutes(app: FastifyInstance) {
  app.addHook('onRequest', rejectMerchantScopedTokens);
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const inFlight = new Set<Promise<unknown>>();
  const stopping = new AbortController();
  app.addHook('onClose', async () => {
    stopping.abort();
    await Promise.allSettled(inFlight);
  });

  const pseudonymsOf = createPseudonymKeys(app.config.pseudonymSecret);
  const depsOf = (request: FastifyRequest): RetentionDependencies => ({
    database: app.database,
    policies: app.policies,
    pseudonymsOf,
    signer: app.signer,
    principal: principalOf(request),
    requestId: request.id,
  });

  routes.get(
    '/v1/retention/policies',
    {
      config: { scopes: ['retention:manage'] },
      schema: {
        tags: ['retention'],
        security,
        response: {
          200: z.object({
            policyVersion: z.string(),
            rules: z.array(
              z.object({
                id: z.string(),
                dataClass: z.string(),
                startEvent: z.string(),
                duration: z.string(),
                action: z.string(),
                legalBasis: z.string(),
                description: z.string().nullable(),
              }),
            ),
          }),
          ...problemResponses(401, 403),
        },
      },
    },
    async () => ({
      policyVersion: app.policies.version,
      rules: app.policies.retention.rules.map((rule) => ({
        id: rule.id,
        dataClass: rule.dataClass,
        startEvent: rule.startEvent,
        duration: rule.duration.iso,
        action: rule.action,
        legalBasis: rule.legalBasis,
        description: rule.description ?? null,
      })),
    }),
  );

  routes.get(
    '/v1/retention/preview',
    {
      config: { scopes: ['retention:manage'] },
      schema: {
        tags: ['retention'],
        security,
        querystring: z.object({ asOf: instantOrDate.optional() }),
        response: {
          200: z.object({
            asOf: z.string(),
            policyVersion: z.string(),
            rules: z.array(
              z.object({
                ruleId: z.string(),
                dataClass: z.string(),
                action: z.string(),
                startEvent: z.string(),
                duration: z.string(),
                legalBasis: z.string(),
                due: z.number().int(),
                held: z.number().int(),
                toApply: z.number().int(),
                applied: z.boolean(),
                note: z.string().nullable(),
              }),
            ),
          }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const asOf = request.query.asOf ?? new Date();
      const rules = await previewRetention(app.database.db, app.policies, asOf);
      return { asOf: asOf.toISOString(), policyVersion: app.policies.version, rules };
    },
  );

  routes.post(
    '/v1/retention/run',
    {
      config: { scopes: ['retention:manage'] },
      schema: {
        tags: ['retention'],
        security,
        description:
          'A dry run answers 200 with what a run would do. A run answers 202 once it has started; it continues in the background (see GET /v1/retention/runs). 409 while another run is in progress.',
        body: runBodySchema,
        response: {
          200: runSummarySchema,
          202: runSummarySchema,
          ...problemResponses(400, 401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const { dryRun, asOf } = request.body;
      const deps = depsOf(request);
      if (dryRun) {
        const summary = await runRetention(deps, { dryRun: true, asOf, trigger: 'api' });
        return reply.code(200).send(runJson(summary!));
      }
      const started = await new Promise<RunSummary>((resolve, reject) => {
        const run = runRetention(deps, { asOf, trigger: 'api', onStarted: resolve, signal: stopping.signal })
          .then((summary) => {
            // A scheduled slot is never passed here, so a run always starts; resolve covers a run
            // that finishes before its start is reported.
            if (summary) resolve(summary);
          })
          .catch((error) => {
            reject(error);
            if (stopping.signal.aborted) return;
            request.log.error({ code: (error as { code?: unknown }).code }, 'retention run failed');
          })
          .finally(() => inFlight.delete(run));
        inFlight.add(run);
      });
      return reply.code(202).send(runJson(started));
    },
  );

  routes.get(
    '/v1/retention/runs',
    {
      config: { scopes: ['retention:manage'] },
      schema: {
        tags: ['retention'],
        security,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: {
          200: z.object({ runs: z.array(runSummarySchema) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const runs = await listRuns(app.database.db, request.query.limit);
      const summaries = await Promise.all(runs.map((run) => summarizeRun(app.database.db, run)));
      return { runs: summaries.map(runJson) };
    },
  );
}
