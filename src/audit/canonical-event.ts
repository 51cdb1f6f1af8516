import { z } from 'zod';

/**
 * An audit event as it enters the Merkle tree and leaves in exports. The leaf is the UTF-8 of its
 * canonical JSON (keys sorted at every depth, no whitespace), so an offline verifier recomputes it
 * from an exported event alone. Times are ISO 8601 UTC with the microseconds PostgreSQL keeps. Strict:
 * a field added to an exported event is not covered by its leaf hash, so a verifier refuses it.
 */
export const loggedEventSchema = z.strictObject({
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
 * How `audit_events e` reads as a LoggedEvent, field by field: the one projection the sequencer (as
 * columns) and the streams (as JSON built by PostgreSQL from these columns) share, so what is hashed
 * is what is exported.
 */
const loggedEventFields: [keyof LoggedEvent, string][] = [
  ['eventId', 'e.event_id::text'],
  ['occurredAt', `to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`],
  ['actor', 'e.actor'],
  ['actorScopes', 'e.actor_scopes'],
  ['clientId', 'e.client_id'],
  ['action', 'e.action'],
  ['targetType', 'e.target_type'],
  ['targetId', 'e.target_id'],
  ['subjectRef', 'e.subject_ref'],
  ['purpose', 'e.purpose'],
  ['outcome', 'e.outcome'],
  ['requestId', 'e.request_id'],
  ['details', 'e.details'],
];

/** The select list reading a LoggedEvent as columns. */
export const loggedEventColumns = loggedEventFields
  .map(([key, expression]) => `${expression} as "${key}"`)
  .join(', ');

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
