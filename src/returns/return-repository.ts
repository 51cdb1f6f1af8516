import { and, asc, eq, isNotNull, isNull, type SQL, sql } from 'drizzle-orm';
import {
  type AuditContext,
  auditEventPerRow,
  auditWhoOf,
  auditWhoPlaceholders,
  type Executor,
} from '../audit/record-audit-event';
import type { DataClass } from '../crypto/data-classes';
import { type NewSubject, subjectIntakeCtes } from '../crypto/intake-keyset';
import { storedKeysByClass, storedKeysJson } from '../crypto/stored-keys-json';
import { type SubjectDataKeyRow, subjectDataKeys } from '../crypto/subject-data-keys.schema';
import { isAnyOf } from '../db/array-param';
import { clientOf, type Database } from '../db/database';
import { jsonRowOf, qualified, rowFromJson } from '../db/json-rows';
import { placeholderValues, preparedStatement, rowPlaceholders } from '../db/prepared-statement';
import type { DataState } from '../policies/purposes-policy';
import { enqueueWebhookEvent, webhookEventPerRow, webhookEventValues } from '../webhooks/outbox';
import type { WebhookEventInput } from '../webhooks/webhook-payload';
import {
  type NewReturnEventRow,
  type NewReturnRow,
  type ReturnEventRow,
  type ReturnRow,
  returnEvents,
  returns,
} from './returns.schema';

/*
 * The one module that writes `returns` and `return_events`. Features that must see every change hook
 * in here, in the caller's transaction or in the write's own statement (a new subject's return): the
 * webhook outbox (creation, status changes), retention and
 * erasure; the pseudonymized feed cursor is moved by a trigger. Every write stamps `updated_at`.
 */

/** Limits reads to one merchant when the caller's token names one; others see nothing else. */
export interface MerchantScope {
  merchantId?: string;
}

function scoped(id: string, scope: MerchantScope): SQL | undefined {
  return scope.merchantId === undefined
    ? eq(returns.id, id)
    : and(eq(returns.id, id), eq(returns.merchantId, scope.merchantId));
}

function returnCreatedEvent(row: NewReturnRow): WebhookEventInput {
  return {
    type: 'return.created',
    merchantId: row.merchantId,
    data: { returnId: row.id, status: row.status ?? 'created', withdrawalDeadline: row.withdrawalDeadline },
  };
}

/** Stores a new return and announces it to webhook subscribers, in the caller's transaction. */
export async function insertReturn(tx: Executor, row: NewReturnRow): Promise<void> {
  await Promise.all([tx.insert(returns).values(row), enqueueWebhookEvent(tx, returnCreatedEvent(row))]);
}

/** Who creates the return (the audit event's actor and purpose) and its details: ids and counts. */
export interface ReturnCreatedAudit {
  context: AuditContext;
  details: Record<string, unknown>;
}

function buildNewSubjectReturnStatement(properties: readonly string[], olderDigests: boolean) {
  const row = rowPlaceholders(returns, properties, 'return.');
  const statement = preparedStatement<{ inserted: number }>(sql`with ${subjectIntakeCtes(olderDigests)},
    new_return as (
      insert into ${returns} (${row.columns}, subject_id)
      select ${row.values}, created.id from created
      returning id, subject_id
    ), create_audit as (${auditEventPerRow(
      auditWhoPlaceholders,
      {
        action: 'return.create',
        targetType: 'return',
        targetId: sql`new_return.id::text`,
        subjectRef: sql`new_return.subject_id::text`,
        outcome: sql`'success'`,
        details: sql`${sql.placeholder('auditDetails')}::jsonb`,
      },
      sql`from new_return`,
    )}), announced as (${webhookEventPerRow(sql`from new_return`)})
    select count(*)::int as inserted from new_return`);
  return { statement, placeholders: row.placeholders };
}

/** By the row's property names (the same on every create) and whether older blind-index keys exist. */
const newSubjectReturnStatements = new Map<string, ReturnType<typeof buildNewSubjectReturnStatement>>();

/**
 * The common create, as one statement with no transaction to open and commit: an e-mail never seen
 * gets its subject and keys (`subject`), the return encrypted under them (`row`), its audit event and
 * its webhook announcement, all or nothing. False, with nothing written, when the e-mail already has a
 * subject (or a concurrent intake created it first): the caller then encrypts under that subject's
 * keys and takes the transactional path (`intakeKeyset`, `insertReturn`).
 */
export async function insertReturnOfNewSubject(
  db: Database,
  subject: NewSubject,
  row: NewReturnRow,
  audit: ReturnCreatedAudit,
): Promise<boolean> {
  // The ciphertexts' AAD names the subject: the row must be the one encrypted under `subject`.
  if (row.subjectId !== subject.keyset.subjectId) {
    throw new Error('insertReturnOfNewSubject: the row was not encrypted for this new subject');
  }
  // subject_id comes from the `created` CTE; an undefined property keeps its column default.
  const properties = Object.keys(row).filter(
    (property) => property !== 'subjectId' && row[property as keyof NewReturnRow] !== undefined,
  );
  const cacheKey = `${properties.join(',')};${subject.olderDigests}`;
  let built = newSubjectReturnStatements.get(cacheKey);
  if (!built) {
    built = buildNewSubjectReturnStatement(properties, subject.olderDigests);
    newSubjectReturnStatements.set(cacheKey, built);
  }
  const [result] = await built.statement.run(
    clientOf(db),
    placeholderValues(
      built.placeholders(row),
      subject.values,
      auditWhoOf(audit.context),
      { auditDetails: JSON.stringify(audit.details) },
      webhookEventValues(returnCreatedEvent(row)),
    ),
  );
  return result!.inserted === 1;
}

/** Stores an event unless one with the same dedupe key exists; true when this call stored it. */
export async function insertReturnEvent(tx: Executor, row: NewReturnEventRow): Promise<boolean> {
  const inserted = await tx
    .insert(returnEvents)
    .values(row)
    .onConflictDoNothing({ target: returnEvents.dedupeKey })
    .returning({ id: returnEvents.id });
  return inserted.length > 0;
}

export interface ReturnProgress {
  status: string;
  refundDueAt: Date | null;
  refundedAt: Date | null;
  refundedCents: number | null;
}

/** The normalised event that led to a change, as webhook subscribers receive it (codes, no free text). */
export interface ProgressTrigger {
  type: string;
  carrierCode: string | null;
  occurredAt: Date;
}

/** Stores what the event history now says; a status change is announced to webhook subscribers. */
export async function updateReturnProgress(
  tx: Executor,
  before: Pick<ReturnRow, 'id' | 'merchantId' | 'status'>,
  progress: ReturnProgress,
  trigger: ProgressTrigger,
): Promise<void> {
  await tx
    .update(returns)
    .set({ ...progress, updatedAt: sql`now()` })
    .where(eq(returns.id, before.id));
  if (progress.status !== before.status) {
    await enqueueWebhookEvent(tx, {
      type: 'return.status_changed',
      merchantId: before.merchantId,
      data: {
        returnId: before.id,
        status: progress.status,
        previousStatus: before.status,
        refundDueAt: progress.refundDueAt?.toISOString() ?? null,
        event: {
          type: trigger.type,
          carrierCode: trigger.carrierCode,
          occurredAt: trigger.occurredAt.toISOString(),
        },
      },
    });
  }
}

/** The return, locked until the transaction ends, so events of one return apply one at a time. */
export async function lockReturn(
  tx: Executor,
  id: string,
  scope: MerchantScope,
): Promise<ReturnRow | undefined> {
  const [row] = await tx.select().from(returns).where(scoped(id, scope)).for('update');
  return row;
}

/** A return with its events and its subject's stored keys, as one statement reads them. */
export interface ReturnWithKeys {
  row: ReturnRow;
  events: ReturnEventRow[];
  keys: Map<DataClass, SubjectDataKeyRow>;
}

/**
 * The read of a return with its `return.read` audit event, built once per database and scoping and
 * prepared: drizzle building this statement's text from its query tree took about a quarter of the
 * service's CPU under get-return load. Values come as placeholders.
 */
function buildReadStatement(executor: Executor, byMerchant: boolean) {
  const target = byMerchant
    ? and(eq(returns.id, sql.placeholder('id')), eq(returns.merchantId, sql.placeholder('merchantId')))
    : eq(returns.id, sql.placeholder('id'));
  const stateAllowed = sql`${returns.dataState} = any(${sql.placeholder('allowedStates')}::text[])`;
  const readable = sql`(${returns.erasedAt} is not null or ${stateAllowed})`;
  // As the view says: an IBAN an erasure kept, in a data state the purpose may not read, is withheld.
  const purposeWithheld = sql`${sql.placeholder('withheld')}::jsonb`;
  const withheld = sql`case when ${returns.erasedAt} is not null and ${returns.ibanEnc} is not null
      and not ${stateAllowed} and not ${purposeWithheld} @> '["payment"]'
    then ${purposeWithheld} || '["payment"]' else ${purposeWithheld} end`;
  const readAudit = executor.$with('read_audit', { eventId: sql<string>`event_id` }).as(
    auditEventPerRow(
      auditWhoPlaceholders,
      {
        action: 'return.read',
        targetType: 'return',
        targetId: sql`${returns.id}::text`,
        subjectRef: sql`${returns.subjectId}::text`,
        outcome: sql`case when ${readable} then 'success' else 'denied' end`,
        details: sql`case when ${readable}
          then jsonb_build_object('withheld', ${withheld}, 'erased', ${returns.erasedAt} is not null)
          else jsonb_build_object('dataState', ${returns.dataState}) end`,
      },
      sql`from ${returns} where ${target}`,
    ),
  );
  return executor
    .with(readAudit)
    .select({
      row: returns,
      events: sql<Record<string, unknown>[]>`(select coalesce(json_agg(${jsonRowOf(returnEvents)}
          order by ${qualified(returnEvents, returnEvents.arrival)}), '[]'::json)
        from ${returnEvents}
        where ${qualified(returnEvents, returnEvents.returnId)} = ${qualified(returns, returns.id)})`,
      keys: storedKeysJson(
        sql`${subjectDataKeys} where ${qualified(subjectDataKeys, subjectDataKeys.subjectId)} = ${qualified(returns, returns.subjectId)}`,
      ),
    })
    .from(returns)
    .where(target)
    .prepare(byMerchant ? 'read_return_of_merchant' : 'read_return');
}

type ReadStatement = ReturnType<typeof buildReadStatement>;
/**
 * Per pool (it lives as long as the process; a transaction would have its own) and scoping: [any
 * merchant, one merchant].
 */
const readStatements = new WeakMap<Database, [ReadStatement, ReadStatement]>();

/**
 * The return, its events and its subject's wrapped keys, read together with the `return.read` audit
 * event in one statement: no read without its event, and no transaction to open and commit. The event
 * is `denied` when the purpose may not read the return's data state (an erased return is readable:
 * nothing personal is left), and the caller then answers 403 without decrypting anything.
 */
export async function readReturnAudited(
  db: Database,
  id: string,
  scope: MerchantScope,
  audit: { context: AuditContext; allowedStates: readonly DataState[]; withheld: readonly string[] },
): Promise<ReturnWithKeys | undefined> {
  let statements = readStatements.get(db);
  if (!statements) {
    statements = [buildReadStatement(db, false), buildReadStatement(db, true)];
    readStatements.set(db, statements);
  }
  const byMerchant = scope.merchantId !== undefined;
  const [found] = await statements[byMerchant ? 1 : 0].execute({
    id,
    merchantId: scope.merchantId,
    allowedStates: [...audit.allowedStates],
    withheld: JSON.stringify(audit.withheld),
    ...auditWhoOf(audit.context),
  });
  if (!found) return undefined;
  return {
    row: found.row,
    events: found.events.map((event) => rowFromJson(returnEvents, event)),
    keys: storedKeysByClass(found.keys),
  };
}

export async function findReturnsOfSubject(
  executor: Executor,
  subjectId: string,
  scope: MerchantScope,
): Promise<ReturnRow[]> {
  const bySubject = eq(returns.subjectId, subjectId);
  return executor
    .select()
    .from(returns)
    .where(
      scope.merchantId === undefined ? bySubject : and(bySubject, eq(returns.merchantId, scope.merchantId)),
    )
    .orderBy(asc(returns.createdAt));
}

export async function findEventByDedupeKey(
  executor: Executor,
  dedupeKey: string,
): Promise<ReturnEventRow | undefined> {
  const [row] = await executor.select().from(returnEvents).where(eq(returnEvents.dedupeKey, dedupeKey));
  return row;
}

/** Events of these returns in the order they arrived. */
export async function findEvents(executor: Executor, returnIds: string[]): Promise<ReturnEventRow[]> {
  if (returnIds.length === 0) return [];
  return executor
    .select()
    .from(returnEvents)
    .where(isAnyOf(returnEvents.returnId, returnIds))
    .orderBy(asc(returnEvents.arrival));
}

/**
 * Retention: these returns' personal data become readable only for purposes allowed on archived data.
 * A restricted one stays restricted (Art. 18 allows storage only, whatever a purpose may read in the
 * archive); `archived_at` records its clock, and lifting the restriction leaves it archived.
 */
export async function archiveReturns(tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.dataState} = 'restricted' then 'restricted' else 'archived' end`,
      archivedAt: sql`now()`,
      updatedAt: sql`now()`,
    })
    .where(isAnyOf(returns.id, ids));
}

/**
 * An event on an archived return that has not ended: it was archived as dormant (return-end.ts) and
 * is under way again, so its data are for everyday purposes again, unless restricted (Art. 18, or
 * kept for claims by an erasure request): then it is restricted, whatever its archived state said.
 * An erased one stays erased.
 */
export async function wakeDormantReturn(tx: Executor, id: string): Promise<void> {
  await tx
    .update(returns)
    .set({
      dataState: sql`case when ${returns.restrictedAt} is not null or ${returns.keptForClaimsAt} is not null
        then 'restricted' when ${returns.dataState} = 'archived' then 'active' else ${returns.dataState} end`,
      archivedAt: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(returns.id, id), isNotNull(returns.archivedAt), isNull(returns.erasedAt)));
}

/** Retention: the records go, their events with them (cascade), once their accounting period ended. */
export async function deleteReturns(tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.delete(returns).where(isAnyOf(returns.id, ids));
}

/** An active return's data state once restricted; an archived one is already for legal claims only. */
export const restrictedDataState = sql`case when ${returns.dataState} = 'active' then 'restricted' else ${returns.dataState} end`;

/**
 * These returns are kept for legal claims only (what a hold keeps after an erasure request): an active
 * one moves to the `restricted` state (an archived one already is readable for legal claims only),
 * and `kept_for_claims_at` records why, so lifting an Art. 18 restriction leaves them so and the
 * pseudonymized feed flags them (the update moves them there).
 */
export async function keepReturnsForClaims(tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .update(returns)
    .set({
      dataState: restrictedDataState,
      keptForClaimsAt: sql`coalesce(${returns.keptForClaimsAt}, now())`,
      updatedAt: sql`now()`,
    })
    .where(isAnyOf(returns.id, ids));
}

/**
 * Erasure of the contact class: the ciphertexts go with the key (crypto-shredding is done by the
 * caller in the same transaction) and `erased_at` tells readers and recipients.
 */
export async function eraseReturnsContactColumns(tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .update(returns)
    .set({
      customerNameEnc: null,
      customerEmailEnc: null,
      customerPhoneEnc: null,
      addressLine1Enc: null,
      addressLine2Enc: null,
      postalCodeEnc: null,
      cityEnc: null,
      itemCommentsEnc: null,
      erasedAt: sql`coalesce(${returns.erasedAt}, now())`,
      updatedAt: sql`now()`,
    })
    .where(isAnyOf(returns.id, ids));
  await tx
    .update(returnEvents)
    .set({ locationEnc: null, proofEnc: null })
    .where(isAnyOf(returnEvents.returnId, ids));
}

/** Erasure of the payment class (the refund IBAN). */
export async function eraseReturnsPaymentColumns(tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.update(returns).set({ ibanEnc: null, updatedAt: sql`now()` }).where(isAnyOf(returns.id, ids));
}
