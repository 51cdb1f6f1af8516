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

/** Records one audit event. Callers pass only ids, codes and counts, never a personal value. */
export async function recordAuditEvent(
  executor: Executor,
  context: AuditContext,
  event: AuditEventInput,
): Promise<void> {
  await executor.insert(auditEvents).values({
    ...event,
    actor: event.actor ?? context.principal?.sub ?? 'anonymous',
    actorScopes: context.principal?.scopes ?? [],
    clientId: context.principal?.clientId,
    requestId: context.requestId,
    purpose: event.purpose ?? context.purpose,
  });
}
