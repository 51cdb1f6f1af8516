import { z } from 'zod';

/**
 * An audit event as it enters the Merkle tree and leaves in exports. The leaf is the UTF-8 of its
 * canonical JSON (keys sorted at every depth, no whitespace), so an offline verifier recomputes it
 * from an exported event alone. Times are ISO 8601 UTC with the microseconds PostgreSQL keeps.
 */
export const loggedEventSchema = z.object({
  eventId: z.string(),
  occurredAt: z.string(),
  actor: z.string(),
  actorScopes: z.array(z.string()),
  clientId: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  subjectRef: z.string().nullable(),
  purpose: z.string().nullable(),
  outcome: z.string(),
  requestId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

export type LoggedEvent = z.infer<typeof loggedEventSchema>;

/**
 * The SQL select list that reads `audit_events e` as a LoggedEvent: the one projection the sequencer,
 * the event stream and the export share, so what is hashed is exactly what is exported.
 */
export const loggedEventColumns = `e.event_id::text as "eventId",
  to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "occurredAt",
  e.actor, e.actor_scopes as "actorScopes", e.client_id as "clientId", e.action,
  e.target_type as "targetType", e.target_id as "targetId", e.subject_ref as "subjectRef",
  e.purpose, e.outcome, e.request_id as "requestId", e.details`;

/** JSON with object keys sorted at every depth (RFC 8785 ordering for the values audit events hold). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The bytes of the Merkle leaf for one event. */
export function canonicalLeaf(event: LoggedEvent): Buffer {
  const { eventId, occurredAt, actor, actorScopes, clientId, action, targetType, targetId } = event;
  const { subjectRef, purpose, outcome, requestId, details } = event;
  return Buffer.from(
    canonicalJson({
      eventId,
      occurredAt,
      actor,
      actorScopes,
      clientId,
      action,
      targetType,
      targetId,
      subjectRef,
      purpose,
      outcome,
      requestId,
      details,
    }),
    'utf8',
  );
}
