import { and, asc, eq, isNotNull, type SQL, sql } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { DataClass } from '../crypto/data-classes';
import { destroySubjectKeys } from '../crypto/field-cipher';
import { lockSubject } from '../crypto/subjects';
import { subjects } from '../crypto/subjects.schema';
import { isAnyOf, uuidArray } from '../db/array-param';
import { timestampParam } from '../db/sql-timestamp';
import { AppError } from '../http/app-error';
import { activeHoldsFor, heldReturnIds, isActive, returnHeld } from '../legal-holds/active-holds';
import { legalHolds } from '../legal-holds/legal-holds.schema';
import { addIsoDuration } from '../policies/iso-duration';
import type { Policies } from '../policies/load-policies';
import {
  endedWithoutRefund as endedWithoutRefundSql,
  endedWithoutRefundStatuses,
  paymentClockStart,
  returnEndTimes,
} from '../returns/return-end';
import { keepReturnsForClaims } from '../returns/return-repository';
import { returns } from '../returns/returns.schema';
import type { Signer } from '../signing/signing-key';
import { recordDeferredCompletions } from './deferred-completion';
import { accountingFieldsKept, type ErasedData, type ErasureOutcome, type KeptData } from './erasure-outcome';
import { announceErasedReturns, type PseudonymsOf } from './recipient-notices';
import { columnsOfClass, holdsAny, nullAssignments, subjectLocations } from './subject-data-locations';

export interface ErasureContext {
  audit: AuditContext;
  /** Retention periods (payment kept while its period runs) and the version recorded. */
  policies: Policies;
  /** "As of": retention passes its asOf, requests pass the current time. */
  now: Date;
  /** `deferred_request`: what a hold kept from an erasure request, erased once no hold covers it. */
  origin: 'subject_request' | 'deferred_request' | 'retention';
  /** When given, subscribed merchants and recipients get a `return.erased` webhook (Art. 19). */
  pseudonymsOf?: PseudonymsOf;
}

/** A deferred erasure's completion is certified on its request (deferred-completion.ts). */
export interface DeferredErasureContext extends ErasureContext {
  signer: Signer;
}

export interface ReturnsErasureResult {
  /** Returns whose columns of the class this call nulled. */
  erased: string[];
  /** Returns an active legal hold kept as they were. */
  held: string[];
  /** Returns that held no data of the class any more. */
  alreadyErased: string[];
  /** Subjects left with no data and no key of the class (destroyed by this call, or before). */
  subjectsShredded: string[];
}

interface LockedReturn {
  id: string;
  subjectId: string;
  merchantId: string;
  erasedAt: Date | null;
  refundedAt: Date | null;
  /**
   * The refund, or, for a return still under way, when it goes (or went) dormant (return-end.ts); null
   * for a return that ended with no refund.
   */
  paymentClockStart: Date | null;
  status: string;
  /** The return still holds a value of the payment class (the refund IBAN). */
  holdsPayment: boolean;
  /** An active legal hold covers it, on the return or on its subject. */
  held: boolean;
}

function endedWithoutRefund(row: LockedReturn): boolean {
  return row.refundedAt === null && (endedWithoutRefundStatuses as readonly string[]).includes(row.status);
}

/** Contact data is gone once `erased_at` is set; payment data once its columns are null. */
function holdsClass(row: LockedReturn, dataClass: DataClass): boolean {
  return dataClass === 'contact' ? row.erasedAt === null : row.holdsPayment;
}

/**
 * Locks the returns (in id order) with their subjects, and reads what each return still holds and,
 * in a statement of its own, whether a legal hold covers it. The subjects are locked before any check
 * of what they still hold: an intake that found one of them (FOR KEY SHARE) commits first and its
 * return is seen by the check; a later one waits, then starts a new subject (the
 * returns_check_subject trigger). A hold being placed locks its return or subject too (manage-legal-
 * holds.ts): when it commits while this waits for the lock, the locking statement's snapshot, taken
 * before the wait, would not show it; the next statement's does.
 */
async function lockReturns(tx: Executor, where: SQL, asOf: Date): Promise<LockedReturn[]> {
  const locked = await lockedReturnRows(tx, where);
  const held = await heldReturnIds(
    tx,
    locked.map((row) => row.id),
    asOf,
  );
  return locked.map((row) => ({ ...row, held: held.has(row.id) }));
}

function lockedReturnRows(tx: Executor, where: SQL): Promise<Omit<LockedReturn, 'held'>[]> {
  const paymentColumns = columnsOfClass('payment', 'returns').get('returns') ?? [];
  return tx
    .select({
      id: returns.id,
      subjectId: returns.subjectId,
      merchantId: returns.merchantId,
      erasedAt: returns.erasedAt,
      refundedAt: returns.refundedAt,
      paymentClockStart: sql<Date | null>`${paymentClockStart}`.mapWith(returns.refundedAt),
      status: returns.status,
      holdsPayment: sql<boolean>`${holdsAny(paymentColumns, 'returns')}`,
    })
    .from(returns)
    .innerJoin(subjects, eq(subjects.id, returns.subjectId))
    .where(where)
    .orderBy(asc(returns.id))
    .for('update');
}

/**
 * One statement for the whole batch: the class's columns of these returns and of their events
 * nulled; erasing contact data also sets `erased_at`, which the pseudonymized feed turns into a
 * tombstone.
 */
async function nullClassOfReturns(tx: Executor, returnIds: string[], dataClass: DataClass, now: Date) {
  const ids = uuidArray(returnIds);
  const returnColumns = columnsOfClass(dataClass, 'returns').get('returns') ?? [];
  const eventColumns = columnsOfClass(dataClass, 'return_events').get('return_events') ?? [];
  const events =
    eventColumns.length > 0
      ? sql`with events as (update return_events set ${nullAssignments(eventColumns)} where return_id = any(${ids}) and ${holdsAny(eventColumns)} returning 1) `
      : sql``;
  const erasedAt = dataClass === 'contact' ? sql`, erased_at = ${timestampParam(now)}` : sql``;
  await tx.execute(
    sql`${events}update returns set ${nullAssignments(returnColumns)}${erasedAt}, updated_at = now() where id = any(${ids})`,
  );
}

interface EraseOptions {
  /** Which of the unheld returns this call may erase (all by default; payment waits for its window). */
  erasable?: (row: LockedReturn) => boolean;
  /**
   * Subjects to shred once left empty, already locked by the caller; by default the subjects of the
   * returns erased now (locked with them by lockReturns).
   */
  shredCandidates?: string[];
}

/**
 * The one erasure logic, for a batch of locked returns (a retention batch, or every return of one
 * subject): the returns not under a hold are nulled in one statement, recipients are told, the
 * subjects left with no data of the class are shredded together, and one audit event lists the ids.
 */
async function eraseLockedReturns(
  tx: Executor,
  locked: LockedReturn[],
  dataClass: DataClass,
  context: ErasureContext,
  options: EraseOptions = {},
): Promise<ReturnsErasureResult> {
  const erasable = options.erasable ?? (() => true);
  const free = locked.filter((row) => !row.held);
  const toErase = free.filter((row) => holdsClass(row, dataClass) && erasable(row));
  const result: ReturnsErasureResult = {
    erased: toErase.map((row) => row.id),
    // Only those a hold keeps data of the class on: a held return already erased keeps nothing.
    held: locked.filter((row) => row.held && holdsClass(row, dataClass)).map((row) => row.id),
    alreadyErased: free.filter((row) => !holdsClass(row, dataClass)).map((row) => row.id),
    subjectsShredded: [],
  };
  if (toErase.length > 0) {
    await nullClassOfReturns(tx, result.erased, dataClass, context.now);
    if (dataClass === 'contact' && context.pseudonymsOf) {
      await announceErasedReturns(tx, context.policies, context.pseudonymsOf, toErase);
    }
  }
  const candidates = options.shredCandidates ?? [...new Set(toErase.map((row) => row.subjectId))];
  result.subjectsShredded = await shredSubjects(tx, candidates, dataClass, context, result.erased);
  if (locked.length === 0 && candidates.length === 0) return result;
  const subjectsTouched = new Set([...locked.map((row) => row.subjectId), ...candidates]);
  await recordAuditEvent(tx, context.audit, {
    action: `erasure.${dataClass}`,
    outcome: 'success',
    targetType: 'returns',
    targetId: null,
    subjectRef: subjectsTouched.size === 1 ? [...subjectsTouched][0]! : null,
    details: {
      origin: context.origin,
      policyVersion: context.policies.version,
      erased: result.erased,
      held: result.held.length,
      alreadyErased: result.alreadyErased.length,
      subjectsShredded: result.subjectsShredded.length,
    },
  });
  return result;
}

/**
 * Crypto-shreds the class of each subject among these (locked by the caller) that no return still
 * holds data of and no hold covers: every ciphertext of the class nulled, then the keys destroyed, a
 * fixed number of statements whatever the number of subjects. For contact, the blind index goes too
 * (with any copy a pending request kept), so the e-mail no longer finds the subject. The returns this
 * call erased (`nulledReturnIds`), nulled with their events a statement before, are not read again.
 * Answers the subjects left with no key of the class (destroyed now or before).
 */
async function shredSubjects(
  tx: Executor,
  subjectIds: string[],
  dataClass: DataClass,
  context: ErasureContext,
  nulledReturnIds: string[],
): Promise<string[]> {
  if (subjectIds.length === 0) return [];
  const ids = uuidArray(subjectIds);
  const returnColumns = columnsOfClass(dataClass, 'returns').get('returns') ?? [];
  const stillHeldData = dataClass === 'contact' ? sql`r.erased_at is null` : holdsAny(returnColumns, 'r');
  const empty = (await tx.execute(sql`
    select s.id from unnest(${ids}) as s(id)
    where not exists (select 1 from returns r where r.subject_id = s.id and ${stillHeldData})
      and not exists (select 1 from ${legalHolds} where ${legalHolds.subjectId} = s.id and ${isActive(context.now)})`)) as unknown as {
    id: string;
  }[];
  const shredded = empty.map((row) => row.id);
  if (shredded.length === 0) return [];
  // One statement: each table is written once, by its own data-modifying CTE.
  const updates = subjectLocations(dataClass, shredded, nulledReturnIds).map(
    (location, index) =>
      sql`${sql.identifier(`shred_${index}`)} as (update ${sql.identifier(location.table)} set ${nullAssignments(location.columns)} where ${location.where} returning 1)`,
  );
  if (updates.length > 0) await tx.execute(sql`with ${sql.join(updates, sql`, `)} select 1`);
  await destroySubjectKeys(tx, shredded, dataClass, context.audit);
  if (dataClass === 'contact') await removeEmailIndexes(tx, shredded, context.now);
  return shredded;
}

/**
 * The blind indexes go, with the copies requests received before their subject existed kept to find
 * it (those requests now point at the subject): one statement.
 */
async function removeEmailIndexes(tx: Executor, subjectIds: string[], now: Date): Promise<void> {
  await tx.execute(sql`
    with requests as (
      update subject_requests q set email_index = null, email_index_version = null, subject_id = s.id
      from subjects s
      where s.id = any(${uuidArray(subjectIds)}) and q.email_index is not null
        and (q.subject_id = s.id or q.email_index = s.email_index)
      returning 1)
    update subjects set email_index = null, email_index_version = null,
      erased_at = coalesce(erased_at, ${timestampParam(now)})
    where id = any(${uuidArray(subjectIds)})`);
}

async function eraseReturnsClass(
  tx: Executor,
  returnIds: string[],
  dataClass: DataClass,
  context: ErasureContext,
): Promise<ReturnsErasureResult> {
  if (returnIds.length === 0) return { erased: [], held: [], alreadyErased: [], subjectsShredded: [] };
  const locked = await lockReturns(tx, isAnyOf(returns.id, returnIds), context.now);
  return eraseLockedReturns(tx, locked, dataClass, context);
}

/** Retention's contact sweep, a batch at a time. See README.md. */
export function eraseReturnsContactData(
  tx: Executor,
  returnIds: string[],
  context: ErasureContext,
): Promise<ReturnsErasureResult> {
  return eraseReturnsClass(tx, returnIds, 'contact', context);
}

/** Retention's payment sweep (refund IBAN). See README.md. */
export function eraseReturnsPaymentData(
  tx: Executor,
  returnIds: string[],
  context: ErasureContext,
): Promise<ReturnsErasureResult> {
  return eraseReturnsClass(tx, returnIds, 'payment', context);
}

function retentionRule(policies: Policies, dataClass: string, actions: string[]) {
  return policies.retention.rules.find(
    (rule) => rule.dataClass === dataClass && actions.includes(rule.action),
  );
}

/** The latest end of a retention period over these start dates (undefined when none started). */
function latestEnd(policies: Policies, dataClass: string, actions: string[], starts: Date[]): string | null {
  const rule = retentionRule(policies, dataClass, actions);
  if (!rule || starts.length === 0) return null;
  const latest = new Date(Math.max(...starts.map((start) => start.getTime())));
  return addIsoDuration(latest, rule.duration).toISOString();
}

/**
 * The erasure an Art. 17 request asks for, on those returns (`where`) of one subject, whose row the
 * caller locked: contact data of the returns no hold covers, payment data once no refund needs it, the
 * subject shredded when left empty; what a hold keeps is kept for legal claims only.
 */
async function eraseReturnsOfSubject(tx: Executor, subjectId: string, where: SQL, context: ErasureContext) {
  const locked = await lockReturns(tx, where, context.now);
  // The same core as a retention batch, for one subject: shredded even when no return is left to null.
  const thisSubject = { shredCandidates: [subjectId] };
  const contact = await eraseLockedReturns(tx, locked, 'contact', context, thisSubject);
  // What a hold keeps after an erasure request is kept for legal claims only: restricted (DOMAIN.md,
  // Art. 17(3)(e)), no longer readable for everyday purposes. Archived returns already are.
  await keepReturnsForClaims(tx, contact.held);

  // Payment: erased once its dispute window (13 months after the refund, or after a return still under
  // way went dormant) is over, or when no refund will be paid; kept while the refund is owed or its
  // window runs.
  const paymentRule = retentionRule(context.policies, 'payment', ['erase']);
  const windowOver = (row: LockedReturn) =>
    row.paymentClockStart !== null &&
    paymentRule !== undefined &&
    addIsoDuration(row.paymentClockStart, paymentRule.duration).getTime() <= context.now.getTime();
  const payment = await eraseLockedReturns(tx, locked, 'payment', context, {
    ...thisSubject,
    erasable: (row) => windowOver(row) || endedWithoutRefund(row),
  });
  return { subjectId, locked, contact, payment, windowOver };
}

/**
 * What an erasure of the subject's returns (eraseReturnsOfSubject) erased and what it kept, why and
 * until when: the answer of a request, or of the completion of one a hold deferred.
 */
async function outcomeOf(
  tx: Executor,
  context: ErasureContext,
  done: Awaited<ReturnType<typeof eraseReturnsOfSubject>>,
): Promise<ErasureOutcome> {
  const { subjectId, locked, contact, payment, windowOver } = done;
  const contactShredded = contact.subjectsShredded.includes(subjectId);
  const paymentShredded = payment.subjectsShredded.includes(subjectId);
  const erased: ErasedData[] = [
    {
      dataClass: 'contact',
      returns: contact.erased.length,
      keyDestroyed: contactShredded,
      emailIndexRemoved: contactShredded,
    },
    { dataClass: 'payment', returns: payment.erased.length, keyDestroyed: paymentShredded },
  ];
  const payments = locked.filter((row) => row.holdsPayment);
  const kept = await keptData(tx, context, {
    subjectId,
    locked,
    contactHeld: contact.held.length,
    paymentHeld: payments.filter((row) => row.held).length,
    paymentRunning: payments.filter((row) => !row.held && !windowOver(row) && !endedWithoutRefund(row)),
  });
  return { erased, kept };
}

/**
 * Subjects with erasure requests a legal hold deferred that can now go further: returns an erasure
 * kept for claims (`kept_for_claims_at`) that no active hold covers, still holding contact data, or an
 * IBAN that no refund needs any more (its dispute window over, or no refund to pay). A kept IBAN of a
 * refund still owed does not count: nothing would be erased, so the subject is not visited again.
 */
export async function deferredErasureSubjects(
  executor: Executor,
  context: Pick<ErasureContext, 'now' | 'policies'>,
  subjectIds?: string[],
): Promise<string[]> {
  const paymentColumns = columnsOfClass('payment', 'returns').get('returns') ?? [];
  const paymentRule = retentionRule(context.policies, 'payment', ['erase']);
  const windowOver = paymentRule
    ? sql`${paymentClockStart} + ${paymentRule.duration.iso}::interval <= ${timestampParam(context.now)}`
    : sql`false`;
  const rows = await executor
    .selectDistinct({ subjectId: returns.subjectId })
    .from(returns)
    .where(
      and(
        isNotNull(returns.keptForClaimsAt),
        sql`(${returns.erasedAt} is null or (${holdsAny(paymentColumns)} and (${endedWithoutRefundSql} or ${windowOver})))`,
        sql`not ${returnHeld(context.now)}`,
        subjectIds === undefined ? undefined : isAnyOf(returns.subjectId, subjectIds),
      ),
    )
    .orderBy(returns.subjectId);
  return rows.map((row) => row.subjectId);
}

/**
 * Completes the erasure request a legal hold deferred for one subject (deferredErasureSubjects): its
 * row locked first, as an erasure request locks it, then the returns the erasure kept for claims and
 * no hold covers any more erased as the request asked, and the completion recorded, with its own
 * certificate, on the requests whose answer still said a hold kept something (deferred-completion.ts).
 * Answers how many returns had data erased.
 */
export async function completeDeferredErasure(
  tx: Executor,
  subjectId: string,
  context: DeferredErasureContext,
): Promise<number> {
  await lockSubject(tx, subjectId, 'update');
  const done = await eraseReturnsOfSubject(
    tx,
    subjectId,
    and(eq(returns.subjectId, subjectId), isNotNull(returns.keptForClaimsAt))!,
    context,
  );
  const erasedReturns = new Set([...done.contact.erased, ...done.payment.erased]).size;
  if (erasedReturns === 0) return 0;
  const outcome = await outcomeOf(tx, context, done);
  // The request record's own retention runs from the request's completion, as its first certificate
  // says; this step does not move it, so it is left out rather than restated with another date.
  const kept = outcome.kept.filter((entry) => entry.dataClass !== 'requests');
  await recordDeferredCompletions(tx, subjectId, context, { erased: outcome.erased, kept });
  return erasedReturns;
}

/**
 * Art. 17 for one subject (see README.md). The subject row is locked first: a concurrent intake for
 * the same e-mail either committed before (its return is erased here) or waits and then fails into a
 * new subject (migration returns-refuse-erased-subject).
 */
export async function eraseSubject(
  tx: Executor,
  subjectId: string,
  context: ErasureContext,
): Promise<ErasureOutcome> {
  const [subject] = await tx
    .select({ id: subjects.id })
    .from(subjects)
    .where(eq(subjects.id, subjectId))
    .for('update');
  if (!subject) throw new AppError('not_found', 'No subject has this id.');
  const done = await eraseReturnsOfSubject(tx, subjectId, eq(returns.subjectId, subjectId), context);
  return outcomeOf(tx, context, done);
}

async function keptData(
  tx: Executor,
  context: ErasureContext,
  facts: {
    subjectId: string;
    /** Every return of the subject, as locked before the erasure (accounting fields are kept). */
    locked: LockedReturn[];
    contactHeld: number;
    paymentHeld: number;
    paymentRunning: LockedReturn[];
  },
): Promise<KeptData[]> {
  const kept: KeptData[] = [];
  const { policies } = context;
  if (facts.contactHeld > 0 || facts.paymentHeld > 0) {
    const holds = await activeHoldsFor(
      tx,
      { subjectId: facts.subjectId, returnIds: facts.locked.map((row) => row.id) },
      context.now,
    );
    const until = holds.some((hold) => hold.until === null)
      ? null
      : new Date(Math.max(...holds.map((hold) => hold.until!.getTime()))).toISOString();
    const legalBasis = 'legal hold: establishment, exercise or defence of legal claims (GDPR Art. 17(3)(e))';
    if (facts.contactHeld > 0) {
      kept.push({
        dataClass: 'contact',
        reason: 'legal_hold',
        legalBasis,
        until,
        returns: facts.contactHeld,
      });
    }
    if (facts.paymentHeld > 0) {
      kept.push({
        dataClass: 'payment',
        reason: 'legal_hold',
        legalBasis,
        until,
        returns: facts.paymentHeld,
      });
    }
  }
  // Dated from the refund only: a dormant return's window runs from its dormancy, which an event can
  // still move, so it stays among the refunds owed, with no date.
  const refunded = facts.paymentRunning.filter((row) => row.refundedAt !== null);
  if (refunded.length > 0) {
    kept.push({
      dataClass: 'payment',
      reason: 'retention_running',
      legalBasis: retentionRule(policies, 'payment', ['erase'])?.legalBasis ?? 'CMF L133-24',
      until: latestEnd(
        policies,
        'payment',
        ['erase'],
        refunded.map((row) => row.refundedAt!),
      ),
      returns: refunded.length,
    });
  }
  const owed = facts.paymentRunning.length - refunded.length;
  if (owed > 0) {
    kept.push({
      dataClass: 'payment',
      reason: 'legal_obligation',
      // No date: the window starts with the refund, or once the return has had a year with no activity.
      legalBasis:
        'Code de la consommation L221-24: the refund is still owed; then CMF L133-24, from the refund or from the return going dormant (a year with no activity)',
      until: null,
      returns: owed,
    });
  }
  if (facts.locked.length > 0) {
    // Kept 10 years from the refund, from the end of a return that ended with none, or from the
    // dormancy of one that never ends.
    const noRefund = facts.locked.filter(endedWithoutRefund);
    const ends = await returnEndTimes(
      tx,
      noRefund.map((row) => row.id),
    );
    const startOf = (row: LockedReturn) => row.refundedAt ?? ends.get(row.id);
    const starts = facts.locked.map(startOf).filter((start): start is Date => start !== undefined);
    const accounting = retentionRule(policies, 'accounting', ['delete', 'redact']);
    kept.push({
      dataClass: 'accounting',
      reason: 'legal_obligation',
      legalBasis: accounting?.legalBasis ?? 'Code de commerce L123-22',
      // A return still under way (its dormancy moves with any event) has no fixed end date: then none
      // is given.
      until:
        starts.length === facts.locked.length
          ? latestEnd(policies, 'accounting', ['delete', 'redact'], starts)
          : null,
      returns: facts.locked.length,
      fields: accountingFieldsKept,
    });
  }
  const requests = retentionRule(policies, 'requests', ['delete', 'redact']);
  kept.push({
    dataClass: 'requests',
    reason: 'legal_obligation',
    legalBasis: requests?.legalBasis ?? 'proof of compliance (GDPR Art. 5(2))',
    until: latestEnd(policies, 'requests', ['delete', 'redact'], [context.now]),
  });
  return kept;
}
