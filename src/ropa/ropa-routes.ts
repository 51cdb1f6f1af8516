import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { problemResponses } from '../http/problem';
import { buildRecordOfProcessing, recordOfProcessingSchema } from './record-of-processing';

/**
 * GET /v1/ropa needs `dsr:manage`: the record is the DPO's document (Art. 30) and names recipients and
 * security measures that other callers have no need to know.
 */
export async function ropaRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.get(
    '/v1/ropa',
    {
      config: { scopes: ['dsr:manage'] },
      schema: {
        tags: ['subject-requests'],
        summary: 'Record of processing activities (GDPR Art. 30), generated from policies/',
        security: [{ bearerAuth: [] }],
        response: { 200: recordOfProcessingSchema, ...problemResponses(401, 403) },
      },
    },
    async () => buildRecordOfProcessing(app.policies),
  );
}
