import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { rejectMerchantScopedTokens } from '../auth/controller-wide';
import { problemResponses } from '../http/problem';
import { keyStatus, startRotation } from './key-rotation';
import { type KeyRotationJob, rotationStatuses } from './key-rotation-jobs.schema';

const rotationJobSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(rotationStatuses),
    targetVersion: z.string().describe('The master key version every data key is re-wrapped to'),
    total: z.number().int().describe('Live data keys on another version when the job started'),
    rewrapped: z.number().int(),
    unreadable: z
      .number()
      .int()
      .describe(
        'Data keys that do not unwrap (altered or corrupt): left as they are; the key.rewrap.batch audit events list them. A key under a version MASTER_KEYS lacks is not skipped: the job stays running until an instance holding that version re-wraps it',
      ),
    batches: z.number().int(),
    error: z.string().nullable(),
    requestedBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'KeyRotationJob' });

const keyStatusSchema = z
  .object({
    activeVersion: z.string(),
    configuredVersions: z.array(z.string()),
    dataKeys: z.array(
      z.object({
        kekVersion: z.string(),
        count: z.number().int(),
        configured: z
          .boolean()
          .describe('False: MASTER_KEYS no longer holds this version, its keys are unreadable'),
      }),
    ),
    destroyedDataKeys: z.number().int(),
    pendingRewrap: z.number().int().describe('Live data keys not yet on the active version'),
    rotation: rotationJobSchema.nullable().describe('The latest rotation job'),
  })
  .meta({ id: 'KeyStatus' });

/** The body of POST /v1/keys/rotate; no body at all is an empty one. */
const rotateBodySchema = z.preprocess(
  (body) => body ?? {},
  z.strictObject({
    supersede: z
      .boolean()
      .default(false)
      .describe(
        'Replace a running rotation to a version MASTER_KEYS here lacks (otherwise 409): for a rotation no instance can finish, after a rollback or a mistyped version',
      ),
  }),
);

function jobBody(job: KeyRotationJob): z.infer<typeof rotationJobSchema> {
  return {
    ...job,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

/** Master key versions and the background re-wrap of data keys; never any key material. */
export async function keyRoutes(app: FastifyInstance) {
  app.addHook('onRequest', rejectMerchantScopedTokens);
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    '/v1/keys/rotate',
    {
      config: { scopes: ['keys:manage'] },
      schema: {
        tags: ['keys'],
        security: [{ bearerAuth: [] }],
        description:
          'Re-wraps every data key to the active (last) MASTER_KEYS version in the background, in resumable ' +
          'batches. Add the new version to MASTER_KEYS and restart first. Answers the job (the running one ' +
          'when it already targets the active version). 409 when a rotation to a version this instance does ' +
          'not hold is running (a newer one, during a rolling deploy): it is left to finish, unless the body ' +
          'says supersede because no instance holds that version any more.',
        body: rotateBodySchema,
        response: { 202: rotationJobSchema, ...problemResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const job = await startRotation(
        app.database.db,
        app.keyring,
        { principal: principalOf(request), requestId: request.id },
        { supersede: request.body.supersede },
      );
      app.rotationWorker.kick();
      return reply.code(202).send(jobBody(job));
    },
  );

  routes.get(
    '/v1/keys',
    {
      config: { scopes: ['keys:manage'] },
      schema: {
        tags: ['keys'],
        security: [{ bearerAuth: [] }],
        description: 'Master key versions, data keys per version and rotation progress.',
        response: { 200: keyStatusSchema, ...problemResponses(401, 403) },
      },
    },
    async () => {
      const status = await keyStatus(app.database.db, app.keyring);
      return { ...status, rotation: status.rotation ? jobBody(status.rotation) : null };
    },
  );
}
