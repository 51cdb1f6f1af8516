import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { DataClass } from '../crypto/data-classes';
import { destroySubjectKey } from '../crypto/field-cipher';
import { subjects } from '../crypto/subjects.schema';
import { timestampParam } from '../db/sql-timestamp';
import { AppError } from '../http/app-error';
import { activeHoldsFor, heldReturnIds, isActive } from '../legal-holds/active-holds';
import { addIsoDuration } from '../policies/iso-duration';
import type { Policies } from '../policies/load-policies';
import { returns } from '../returns/returns.schema';
import type { ErasedData, ErasureOutcome, KeptData } from './erasure-outcome';
import { announceErasedReturns, type PseudonymsOf } from './recipient-notices';
import { columnsOfClass, holdsAny, nullAssignments, subjectLocations } from './subject-data-locations';

export interface ErasureContext {
  audit: AuditContext;
  /** Retention periods (payment kept while its period runs) and the version recorded. */
  policies: Policies;
  /** "As of": retention passes its asOf, requests pass the current time. */
  now: Date;
  origin: 'subject_request' | 'retention';
  /** When given, subscribed merchants and recipients get a `return.erased` webhook (Art. 19). */
  pseudonymsOf?: PseudonymsOf;
}

export interface ReturnsErasureResult {
  /** Returns whose columns of the class this call nulled. */
  erased: string[];
  /** Returns an active legal hold kept as they were. */
  held: string[];
  /** Returns that held no data of the class any more. */
  alreadyErased: string[];
  /** Subjects left with no data of the class by this call: their key of the class is destroyed. */
  subjectsShredded: string[];
}

interface LockedReturn {
  id: string;
  subjectId: string;
  merchantId: string;
  erasedAt: Date | null;
  refundedAt: Date | null;
  holdsClass: boolean;
}

/** Locks the returns (in id order, so two erasures never deadlock) and says which hold class data. */
async function lockReturns(tx: Executor, returnIds: string[], dataClass: DataClass): Promise<LockedReturn[]> {
  if (returnIds.length === 0) return [];
  const columns = columnsOfClass(dataClass, 'returns').get('returns') ?? [];
  return tx
    .select({
      id: returns.id,
      subjectId: returns.subjectId,
      merchantId: returns.merchantId,
      erasedAt: returns.erasedAt,
      refundedAt: returns.refundedAt,
      holdsClass: sql<boolean>`${holdsAny(columns)}`,
    })
    .from(returns)
    .where(inArray(returns.id, returnIds))
    .orderBy(asc(returns.id))
    .for('update');
}

/**
 * Nulls the class's columns of these returns and of their events; erasing contact data also sets
 * `erased_at`, which the pseudonymized feed turns into a tombstone. Then shreds each subject left
 * with no data of the class.
 */
async function eraseReturnsClass(
  tx: Executor,
  returnIds: string[],
  dataClass: DataClass,
  context: ErasureContext,
): Promise<ReturnsErasureResult> {
  const locked = await lockReturns(tx, [...new Set(returnIds)], dataClass);
  if (locked.length === 0) return { erased: [], held: [], alreadyErased: [], subjectsShredded: [] };
  const held = await heldReturnIds(
    tx,
    locked.map((row) => row.id),
    context.now,
  );
  const stillHolds = (row: LockedReturn) =>
    dataClass === 'contact' ? row.erasedAt === null : row.holdsClass;
  const toErase = locked.filter((row) => !held.has(row.id) && stillHolds(row));
  const result: ReturnsErasureResult = {
    erased: toErase.map((row) => row.id),
    held: locked.filter((row) => held.has(row.id)).map((row) => row.id),
    alreadyErased: locked.filter((row) => !held.has(row.id) && !stillHolds(row)).map((row) => row.id),
    subjectsShredded: [],
  };
  if (toErase.length > 0) {
    const ids = sql.join(
      result.erased.map((id) => sql`${id}::uuid`),
      sql`, `,
    );
    const returnColumns = columnsOfClass(dataClass, 'returns').get('returns') ?? [];
    const erasedAt = dataClass === 'contact' ? sql`, erased_at = ${timestampParam(context.now)}` : sql``;
    await tx.execute(
      sql`update returns set ${nullAssignments(returnColumns)}${erasedAt}, updated_at = now() where id in (${ids})`,
    );
    const eventColumns = columnsOfClass(dataClass, 'return_events').get('return_events') ?? [];
    if (eventColumns.length > 0) {
      await tx.execute(
        sql`update return_events set ${nullAssignments(eventColumns)} where return_id in (${ids})`,
      );
    }
    if (dataClass === 'contact' && context.pseudonymsOf) {
      await announceErasedReturns(tx, context.policies, context.pseudonymsOf, toErase);
    }
  }
  for (const subjectId of new Set(toErase.map((row) => row.subjectId))) {
    if (await shredSubjectClassIfEmpty(tx, subjectId, dataClass, context))
      result.subjectsShredded.push(subjectId);
  }
  await recordAuditEvent(tx, context.audit, {
    action: `erasure.${dataClass}`,
    outcome: 'success',
    targetType: 'returns',
    targetId: null,
    subjectRef:
      locked.length > 0 && new Set(locked.map((row) => row.subjectId)).size === 1
        ? locked[0]!.subjectId
        : null,
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
 * Crypto-shreds a subject's class once none of its returns keeps data of it and no hold is on the
 * subject: every ciphertext of the class is nulled, then the key destroyed. For contact, the blind
 * index goes too (with any copy a pending request kept), so the e-mail no longer finds the subject.
 * True when the subject is left with no key of the class (destroyed now or before).
 */
async function shredSubjectClassIfEmpty(
  tx: Executor,
  subjectId: string,
  dataClass: DataClass,
  context: ErasureContext,
): Promise<boolean> {
  const returnColumns = columnsOfClass(dataClass, 'returns').get('returns') ?? [];
  const stillHeldData = dataClass === 'contact' ? sql`erased_at is null` : holdsAny(returnColumns);
  const [blocked] = (await tx.execute(sql`
    select exists (select 1 from returns where subject_id = ${subjectId} and ${stillHeldData})
      or exists (select 1 from legal_holds where subject_id = ${subjectId} and ${isActive(context.now)}) as blocked`)) as unknown as {
    blocked: boolean;
  }[];
  if (blocked?.blocked) return false;
  // One statement: each table is written once, by its own data-modifying CTE.
  const updates = subjectLocations(dataClass, subjectId).map(
    (location, index) =>
      sql`${sql.identifier(`shred_${index}`)} as (update ${sql.identifier(location.table)} set ${nullAssignments(location.columns)} where ${location.where} returning 1)`,
  );
  if (updates.length > 0) await tx.execute(sql`with ${sql.join(updates, sql`, `)} select 1`);
  await destroySubjectKey(tx, subjectId, dataClass, context.audit);
  if (dataClass === 'contact') await removeEmailIndex(tx, subjectId, context);
  return true;
}

/** The blind index goes, with the copy a request received before the subject existed kept to find it. */
async function removeEmailIndex(tx: Executor, subjectId: string, context: ErasureContext): Promise<void> {
  await tx.execute(sql`
    update subject_requests q set email_index = null, email_index_version = null, subject_id = s.id
    from subjects s
    where s.id = ${subjectId} and (q.subject_id = s.id or q.email_index = s.email_index)`);
  await tx
    .update(subjects)
    .set({
      emailIndex: null,
      emailIndexVersion: null,
      erasedAt: sql`coalesce(${subjects.erasedAt}, ${timestampParam(context.now)})`,
    })
    .where(eq(subjects.id, subjectId));
}

/** Retention's contact sweep; also the first step of eraseSubject. See README.md. */
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
 * Art. 17 for one subject (see README.md). The subject row is locked first: a concurrent intake for
 * the same e-mail either committed before (its return is erased here) or waits and then fails into a
 * new subject (migration returns-refuse-erased-subject).
 */
export async function eraseSubject(
  tx: Executor,
  subjectId: string,
  context: ErasureContext,
): Promise<ErasureOutcome> {
  const [subject] = await tx.select().from(subjects).where(eq(subjects.id, subjectId)).for('update');
  if (!subject) throw new AppError('not_found', 'No subject has this id.');
  const all = await tx
    .select({ id: returns.id })
    .from(returns)
    .where(eq(returns.subjectId, subjectId))
    .orderBy(asc(returns.id));
  const returnIds = all.map((row) => row.id);

  const contact = await eraseReturnsContactData(tx, returnIds, context);
  const contactShredded =
    contact.subjectsShredded.length > 0 ||
    (await shredSubjectClassIfEmpty(tx, subjectId, 'contact', context));

  // Payment: erased once its dispute window (13 months after the refund) is over; kept before.
  const payments = (await lockReturns(tx, returnIds, 'payment')).filter((row) => row.holdsClass);
  const held = await heldReturnIds(tx, returnIds, context.now);
  const paymentRule = retentionRule(context.policies, 'payment', ['erase']);
  const windowOver = (row: LockedReturn) =>
    row.refundedAt !== null &&
    paymentRule !== undefined &&
    addIsoDuration(row.refundedAt, paymentRule.duration).getTime() <= context.now.getTime();
  const payable = payments.filter((row) => !held.has(row.id));
  const payment = await eraseReturnsPaymentData(
    tx,
    payable.filter(windowOver).map((row) => row.id),
    context,
  );
  const paymentShredded =
    payment.subjectsShredded.length > 0 ||
    (await shredSubjectClassIfEmpty(tx, subjectId, 'payment', context));

  const erased: ErasedData[] = [
    {
      dataClass: 'contact',
      returns: contact.erased.length,
      keyDestroyed: contactShredded,
      emailIndexRemoved: contactShredded,
    },
    { dataClass: 'payment', returns: payment.erased.length, keyDestroyed: paymentShredded },
  ];
  const kept = await keptData(tx, context, {
    subjectId,
    contactHeld: contact.held.length,
    paymentHeld: payments.filter((row) => held.has(row.id)).length,
    paymentRunning: payable.filter((row) => !windowOver(row)),
    returnIds,
  });
  return { erased, kept };
}

async function keptData(
  tx: Executor,
  context: ErasureContext,
  facts: {
    subjectId: string;
    contactHeld: number;
    paymentHeld: number;
    paymentRunning: LockedReturn[];
    returnIds: string[];
  },
): Promise<KeptData[]> {
  const kept: KeptData[] = [];
  const { policies } = context;
  if (facts.contactHeld > 0 || facts.paymentHeld > 0) {
    const holds = await activeHoldsFor(
      tx,
      { subjectId: facts.subjectId, returnIds: facts.returnIds },
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
      legalBasis: 'Code de la consommation L221-24: the refund is still owed; then CMF L133-24',
      until: null,
      returns: owed,
    });
  }
  if (facts.returnIds.length > 0) {
    const refundDates = await tx
      .select({ refundedAt: returns.refundedAt })
      .from(returns)
      .where(and(eq(returns.subjectId, facts.subjectId), sql`${returns.refundedAt} is not null`));
    const accounting = retentionRule(policies, 'accounting', ['delete', 'redact']);
    kept.push({
      dataClass: 'accounting',
      reason: 'legal_obligation',
      legalBasis: accounting?.legalBasis ?? 'Code de commerce L123-22',
      until: latestEnd(
        policies,
        'accounting',
        ['delete', 'redact'],
        refundDates.map((row) => row.refundedAt!),
      ),
      returns: facts.returnIds.length,
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
