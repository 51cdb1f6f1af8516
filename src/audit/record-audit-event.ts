import { type SQL, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Principal } from '../auth/principal';
import { auditEvents, type NewAuditEvent } from './audit-events.schema';

/** A database or an open transaction: audit events are written in the transaction of their action. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's transaction and database types differ only in schema generics
export type Executor = PgDatabase<PgQueryResultHKT, any, any>;

export interface AuditContext {
  principal?: Principal;
  requestId?: string;
  purpose?: string;
}

export type AuditEventInput = Omit<
  NewAuditEvent,
  'id' | 'eventId' | 'actor' | 'actorScopes' | 'clientId' | 'requestId' | 'txXid'
> & {
  actor?: string;
};

function whoAndWhy(context: AuditContext) {
  return {
    actor: context.principal?.sub ?? 'anonymous',
    actorScopes: context.principal?.scopes ?? [],
    clientId: context.principal?.clientId ?? null,
    requestId: context.requestId ?? null,
    purpose: context.purpose ?? null,
  };
}

/** Records one audit event. Callers pass only ids, codes and counts, never a personal value. */
export async function recordAuditEvent(
  executor: Executor,
  context: AuditContext,
  event: AuditEventInput,
): Promise<void> {
  const who = whoAndWhy(context);
  await executor.insert(auditEvents).values({
    ...event,
    ...who,
    actor: event.actor ?? who.actor,
    purpose: event.purpose ?? who.purpose,
  });
}

/** What an event says of each row it is written for: SQL over the rows `from` selects. */
export interface AuditEventPerRow {
  action: string;
  targetType: string;
  targetId: SQL;
  subjectRef: SQL;
  outcome: SQL<'success' | 'denied'>;
  details: SQL;
}

/**
 * An INSERT of one audit event per row that `from` (a FROM ... WHERE fragment) selects, for use as a
 * data-modifying CTE: a read and its audit event then are one statement, atomic without a
 * transaction, and the event says what the row said (its subject, its state) at that very snapshot.
 */
export function auditEventPerRow(who: AuditWho, event: AuditEventPerRow, from: SQL): SQL {
  return sql`insert into audit_events (actor, actor_scopes, client_id, request_id, purpose, action, target_type,
      target_id, subject_ref, outcome, details)
    select ${who.actor}, string_to_array(${who.scopes}, ' ', ''), ${who.clientId},
      ${who.requestId}, ${who.purpose}, ${event.action}, ${event.targetType}, ${event.targetId},
      ${event.subjectRef}, ${event.outcome}, ${event.details}
    ${from}
    returning event_id`;
}

/**
 * Who acted and why, as `auditEventPerRow` takes it: the values of a context (`auditWhoOf`), or
 * placeholders of a statement prepared once (`auditWhoPlaceholders`) filled with those values.
 */
export interface AuditWho {
  actor: unknown;
  /** The scopes joined by spaces: OAuth scopes never contain one (RFC 6749 3.3). */
  scopes: unknown;
  clientId: unknown;
  requestId: unknown;
  purpose: unknown;
}

export function auditWhoOf(context: AuditContext) {
  const who = whoAndWhy(context);
  return {
    actor: who.actor,
    scopes: who.actorScopes.join(' '),
    clientId: who.clientId,
    requestId: who.requestId,
    purpose: who.purpose,
  } satisfies AuditWho;
}

export const auditWhoPlaceholders: AuditWho = {
  actor: sql.placeholder('actor'),
  scopes: sql.placeholder('scopes'),
  clientId: sql.placeholder('clientId'),
  requestId: sql.placeholder('requestId'),
  purpose: sql.placeholder('purpose'),
};
