import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth/auth-plugin';
import { rejectMerchantScopedTokens } from '../auth/controller-wide';
import { AppError } from '../http/app-error';
import { problemResponses } from '../http/problem';
import { instantOrDateAsText } from '../http/request-fields';
import { publishedKeys } from '../signing/published-keys';
import { bundleSchema, checkpointSchema } from './audit-bundle';
import { eventsAsCsv, listEvents, prepareExport } from './audit-export';
import { consistencyProof, inclusionProof, requireLatestCheckpoint } from './audit-proofs';
import { recordAuditEvent } from './record-audit-event';

const tags = ['audit'];
const security = [{ bearerAuth: [] }];
const scopes = ['audit:read'] as const;

const treeSize = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const hexHash = z.string().regex(/^[0-9a-f]{64}$/);

// Filters reach SQL after the stream has started: refuse what PostgreSQL would reject (a NUL byte).
const filterText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

const eventsQuery = z.object({
  from: instantOrDateAsText.optional().describe('events that occurred at or after this instant'),
  to: instantOrDateAsText.optional().describe('events that occurred before this instant'),
  actor: filterText(256).optional(),
  action: filterText(128).optional(),
  format: z.enum(['ndjson', 'csv']).default('ndjson'),
});

const exportQuery = z.object({
  from: instantOrDateAsText.optional(),
  to: instantOrDateAsText.optional(),
  since: treeSize
    .optional()
    .describe('tree size of a checkpoint kept earlier: adds a consistency proof from it'),
});

/**
 * Streams skip the response serializer; the 200 schema documents their shape in the OpenAPI only.
 * One chunk (a page) is held ahead: the pages themselves are read ahead in audit-export.ts.
 */
function sendStream(reply: unknown, chunks: AsyncIterable<string | Buffer>) {
  return (reply as FastifyReply).send(Readable.from(chunks, { highWaterMark: 1 }));
}

/**
 * Audit streams running at once on an instance. Each holds up to three pool connections while it
 * runs (the page written and the pages built ahead): without a cap, a few concurrent exports would
 * take the whole pool from request traffic. A stream over the cap is refused before it starts.
 */
export const maxConcurrentAuditStreams = 4;

/** The audit log for auditors: streamed events, signed checkpoints, proofs and the offline bundle. */
export async function auditRoutes(app: FastifyInstance) {
  app.addHook('onRequest', rejectMerchantScopedTokens);
  let runningStreams = 0;
  const takeStreamSlot = (reply: FastifyReply) => {
    if (runningStreams >= maxConcurrentAuditStreams) {
      throw new AppError(
        'audit_streams_busy',
        `At most ${maxConcurrentAuditStreams} audit streams run at once on this instance; retry when one has finished.`,
      );
    }
    runningStreams += 1;
    // 'close' comes once the response ends, whether the stream finished, failed or the client left.
    reply.raw.once('close', () => {
      runningStreams -= 1;
    });
  };
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = app.database;

  routes.get(
    '/v1/audit/events',
    {
      config: { scopes },
      schema: {
        tags,
        security,
        description:
          'Audit events in write order, streamed as NDJSON (one event per line) or CSV, with their log position once sequenced.',
        querystring: eventsQuery,
        response: {
          200: z.string().describe('application/x-ndjson or text/csv stream'),
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const { format, ...filter } = request.query;
      takeStreamSlot(reply);
      await recordAuditEvent(
        app.database.db,
        { principal: principalOf(request), requestId: request.id },
        { action: 'audit.events_read', outcome: 'success', targetType: 'audit_log', details: { format } },
      );
      const pages = listEvents(sql, filter);
      reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
      return sendStream(reply, format === 'csv' ? eventsAsCsv(pages) : pages);
    },
  );

  routes.get(
    '/v1/audit/checkpoint',
    {
      config: { scopes },
      schema: {
        tags,
        security,
        description:
          'The latest signed checkpoint: tree size, root hash and a compact JWS verifiable with /.well-known/jwks.json. Keep it to check later exports against.',
        response: { 200: checkpointSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async () => requireLatestCheckpoint(sql),
  );

  routes.get(
    '/v1/audit/proofs/inclusion',
    {
      config: { scopes },
      schema: {
        tags,
        security,
        description:
          'RFC 9162 inclusion proof of one position in a tree size (the latest signed one by default).',
        querystring: z.object({ position: treeSize, treeSize: treeSize.optional() }),
        response: {
          200: z.object({
            position: z.number().int(),
            treeSize: z.number().int(),
            leafHash: hexHash,
            rootHash: hexHash,
            proof: z.array(hexHash),
          }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => inclusionProof(sql, request.query.position, request.query.treeSize),
  );

  routes.get(
    '/v1/audit/proofs/consistency',
    {
      config: { scopes },
      schema: {
        tags,
        security,
        description:
          'RFC 9162 consistency proof that the tree of size `to` (the latest signed one by default) extends the tree of size `from`.',
        querystring: z.object({ from: treeSize, to: treeSize.optional() }),
        response: {
          200: z.object({
            fromTreeSize: z.number().int(),
            toTreeSize: z.number().int(),
            fromRootHash: hexHash,
            toRootHash: hexHash,
            proof: z.array(hexHash),
          }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => consistencyProof(sql, request.query.from, request.query.to),
  );

  routes.get(
    '/v1/audit/export',
    {
      config: { scopes },
      schema: {
        tags,
        security,
        description:
          'A bundle for `returnvault audit verify`: the events of every position between the first and last event of the window, each with its logged leaf hash, the latest signed checkpoint, the range proof, an optional consistency proof and the public keys. Streamed.',
        querystring: exportQuery,
        response: { 200: bundleSchema, ...problemResponses(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      takeStreamSlot(reply);
      // Every key the service signed with: the checkpoint, or a kept one, may predate a key change.
      const keys = await publishedKeys(app.database.db, app.signer);
      const prepared = await prepareExport(sql, app.signer, keys, request.query);
      const { range, checkpoint } = prepared.header;
      await recordAuditEvent(
        app.database.db,
        { principal: principalOf(request), requestId: request.id },
        {
          action: 'audit.exported',
          outcome: 'success',
          targetType: 'audit_log',
          details: { start: range.start, end: range.end, treeSize: checkpoint.treeSize },
        },
      );
      reply
        .type('application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="audit-bundle-${checkpoint.treeSize}.json"`);
      return sendStream(reply, prepared.chunks);
    },
  );
}
