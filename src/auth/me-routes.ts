import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problemResponses } from '../http/problem';
import { principalOf } from './auth-plugin';

/** Lets integrators see what the service reads from their token. */
export async function meRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/me',
    {
      config: { scopes: [] },
      schema: {
        tags: ['auth'],
        security: [{ bearerAuth: [] }],
        response: {
          200: z.object({
            sub: z.string(),
            scopes: z.array(z.string()),
            clientId: z.string(),
            merchantId: z.string().nullable(),
          }),
          ...problemResponses(401),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return {
        sub: principal.sub,
        scopes: principal.scopes,
        clientId: principal.clientId,
        merchantId: principal.merchantId ?? null,
      };
    },
  );
}
