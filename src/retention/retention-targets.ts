import { and, gt, inArray, isNotNull, isNull, lt, or, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { auditEvents } from '../audit/audit-events.schema';
import type { Executor } from '../audit/record-audit-event';
import { subjects } from '../crypto/subjects.schema';
import { arrayParam, isAnyOf } from '../db/array-param';
import { timestampParam } from '../db/sql-timestamp';
import { type ErasureContext, eraseReturnsContactData, eraseReturnsPaymentData } from '../erasure/erase';
import { activeHoldsFor, heldReturnIds } from '../legal-holds/active-holds';
import type { RetentionRule } from '../policies/retention-policy';
import {
  dormantFrom,
  dormantSince,
  endEventTypes,
  endedAt,
  endedWithoutRefund,
  hasEnded,
  stillUnderWay,
} from '../returns/return-end';
import { archiveReturns, deleteReturns } from '../returns/return-repository';
import { returnEvents, returns } from '../returns/returns.schema';
import { restrictionNotLifted } from '../subject-requests/restrict-subject';
import { subjectRequests } from '../subject-requests/subject-requests.schema';
import type { AppliedTarget, ApplyContext, DueSurvey, DueWindow, RetentionTarget } from './retention-target';

/** `start + duration <= asOf`, in PostgreSQL calendar arithmetic (ISO 8601 interval input). */
function isPast(start: SQLWrapper, rule: RetentionRule, asOf: Date): SQL {
  return sql`${start} + ${rule.duration.iso}::interval <= ${timestampParam(asOf)}`;
}

/**
 * How a due-row condition is evaluated: `probe` for a keyset batch (a few hundred rows in key
 * order), `scan` for a count over the whole table.
 */
type DueMode = 'probe' | 'scan';

/** The returns still under way whose dormancy (return-end.ts) is `rule` old, for a count over the table. */
const dormantReturnIds = (rule: RetentionRule, asOf: Date) => sql`
  select dormant.id from ${returns} dormant
    left join ${returnEvents} dormant_event on dormant_event.return_id = dormant.id
    where dormant.status not in (${endEventTypes})
    group by dormant.id
    having ${isPast(dormantFrom(sql`dormant.created_at`, sql`max(dormant_event.received_at)`), rule, asOf)}`;

/**
 * For a count over the table: the returns any of these selects of return ids finds, as one IN. Inside
 * an OR, PostgreSQL runs an IN as a subplan, hashed only while it expects the rows to fit in work_mem
 * and scanned again for every row beyond that (quadratic over a million returns); one IN over a
 * UNION ALL is a semi-join.
 */
function returnIdIn(...selects: SQL[]): SQL {
  return sql`${returns.id} in (${sql.join(selects, sql` union all `)})`;
}

/** The ids of the returns a condition selects, for returnIdIn. */
const returnIdsWhere = (condition: SQL) => sql`select ${returns.id} from ${returns} where ${condition}`;

/** `dormantReturnIds` for a batch: a scalar subquery per candidate row, a probe of the return's events. */
const dormantFor = (rule: RetentionRule, asOf: Date) => and(stillUnderWay, isPast(dormantSince, rule, asOf))!;

/**
 * A return's clock (`return_closed`) starts when it ended, or, for one still under way, when it went
 * dormant. For a batch, scalar subqueries, not EXISTS: they stay probes of the return's own events per
 * candidate row, where a semi-join could walk the events index from its start on every keyset batch
 * (quadratic over a sweep). For a count, the end dates of all returns at once (one pass over the events,
 * hashed) and the dormant ones: several times cheaper than a probe per row over the whole table.
 */
function closedFor(rule: RetentionRule, asOf: Date, mode: DueMode): SQL {
  if (mode === 'scan') {
    return returnIdIn(
      sql`select ${returnEvents.returnId} from ${returnEvents} where ${returnEvents.type} in (${endEventTypes})
        group by ${returnEvents.returnId} having ${isPast(endedAt, rule, asOf)}`,
      dormantReturnIds(rule, asOf),
    );
  }
  const returnEndedAt = sql`(select ${endedAt} from ${returnEvents} where ${returnEvents.returnId} = ${returns.id} and ${returnEvents.type} in (${endEventTypes}))`;
  return or(and(hasEnded, isPast(returnEndedAt, rule, asOf)), dormantFor(rule, asOf))!;
}

/**
 * A survey of the rows `from` selects (a FROM ... WHERE fragment), keyed by `key`: one sort of their
 * keys gives the first, the lane starts (quantiles) and the last. `uuid` has no min() or max() before
 * PostgreSQL 16, hence the 0 and 1 quantiles.
 */
async function surveyRows(executor: Executor, key: PgColumn, from: SQL, lanes: number): Promise<DueSurvey> {
  const fractions = Array.from({ length: lanes + 1 }, (_, index) => index / lanes);
  const [row] = (await executor.execute(sql`
    select count(*)::int as due,
      percentile_disc(${arrayParam(fractions, 'float8')}) within group (order by ${key})::text[] as keys
    ${from}`)) as unknown as { due: number; keys: string[] | null }[];
  const keys = row?.keys ?? [];
  return {
    due: row?.due ?? 0,
    firstKey: keys[0] ?? null,
    laneStarts: keys.slice(1, -1),
    lastKey: keys.at(-1) ?? null,
  };
}

/** How many rows `from` selects, for a rule that is only reported. */
async function countRows(executor: Executor, from: SQL): Promise<number> {
  const [row] = (await executor.execute(sql`select count(*)::int as due ${from}`)) as unknown as {
    due: number;
  }[];
  return row?.due ?? 0;
}

/** Due returns in id order after the window's key; the batch transaction locks them. */
function returnsTarget(
  dueWhere: (rule: RetentionRule, asOf: Date, mode: DueMode) => SQL,
  act: (tx: Executor, ids: string[], context: ApplyContext) => Promise<{ done: string[]; held: string[] }>,
  applyLocks = false,
): AppliedTarget {
  const select = async (executor: Executor, window: DueWindow, limit: number, lock: boolean) => {
    const query = executor
      .select({ id: returns.id })
      .from(returns)
      .where(
        and(
          window.afterKey ? gt(returns.id, window.afterKey) : undefined,
          window.beforeKey ? lt(returns.id, window.beforeKey) : undefined,
          dueWhere(window.rule, window.asOf, 'probe'),
        ),
      )
      .orderBy(returns.id)
      .limit(limit);
    const rows = lock ? await query.for('update') : await query;
    return rows.map((row) => row.id);
  };
  return {
    kind: 'applied',
    rowType: 'return',
    applyLocks,
    selectDue: select,
    surveyDue: (executor, rule, asOf, lanes) =>
      surveyRows(executor, returns.id, sql`from ${returns} where ${dueWhere(rule, asOf, 'scan')}`, lanes),
    held: (executor, ids, asOf) => heldReturnIds(executor, ids, asOf),
    apply: async (tx, ids, context) => {
      // Chosen before their locks were held: an event that committed meanwhile (waking a dormant
      // return, ending one) may have changed whether a return is due. Locked (by the batch's select,
      // unless the action locks them itself), then read again in a statement of its own, which sees
      // what committed while it waited.
      if (applyLocks) {
        await tx
          .select({ id: returns.id })
          .from(returns)
          .where(isAnyOf(returns.id, ids))
          .orderBy(returns.id)
          .for('update');
      }
      const stillDue = (
        await tx
          .select({ id: returns.id })
          .from(returns)
          .where(and(isAnyOf(returns.id, ids), dueWhere(context.rule, context.asOf, 'probe')))
          .orderBy(returns.id)
      ).map((row) => row.id);
      return stillDue.length === 0 ? { done: [], held: [] } : act(tx, stillDue, context);
    },
  };
}

/** Archive, delete: check the holds here; the erasure module checks its own. */
async function unlessHeld(
  tx: Executor,
  ids: string[],
  asOf: Date,
  act: (ids: string[]) => Promise<void>,
): Promise<{ done: string[]; held: string[] }> {
  const held = await heldReturnIds(tx, ids, asOf);
  const done = ids.filter((id) => !held.has(id));
  if (done.length > 0) await act(done);
  return { done, held: [...held] };
}

const erasureContext = (context: ApplyContext): ErasureContext => ({
  audit: context.audit,
  policies: context.policies,
  now: context.asOf,
  origin: 'retention',
  pseudonymsOf: context.pseudonymsOf,
});

const contactArchiveDue = (rule: RetentionRule, asOf: Date, mode: DueMode) =>
  and(closedFor(rule, asOf, mode), isNull(returns.archivedAt), isNull(returns.erasedAt))!;
/**
 * A return restricted at its subject's request (Art. 18) is only stored: no retention rule erases or
 * deletes it until the restriction is lifted (the person may need the data for a claim, Art. 18(1)(c)).
 * Archiving goes on, and keeps it restricted.
 */
const notRestricted = isNull(returns.restrictedAt);

const contactEraseDue = (rule: RetentionRule, asOf: Date, mode: DueMode) =>
  and(closedFor(rule, asOf, mode), isNull(returns.erasedAt), notRestricted)!;

const contactArchive = returnsTarget(contactArchiveDue, (tx, ids, context) =>
  unlessHeld(tx, ids, context.asOf, (due) => archiveReturns(tx, due)),
);

const contactErase = returnsTarget(
  contactEraseDue,
  async (tx, ids, context) => {
    const result = await eraseReturnsContactData(tx, ids, erasureContext(context));
    // A dormant return's IBAN goes with its contact data at the latest (its own clock runs from the
    // dormancy, but a policy may make it the longer one): with the contact data goes the e-mail index
    // that would let a subject request find it.
    const dormant =
      result.erased.length === 0
        ? []
        : await tx
            .select({ id: returns.id })
            .from(returns)
            .where(and(isAnyOf(returns.id, result.erased), stillUnderWay));
    if (dormant.length > 0) {
      await eraseReturnsPaymentData(
        tx,
        dormant.map((row) => row.id),
        erasureContext(context),
      );
    }
    return { done: result.erased, held: result.held };
  },
  true,
);

/**
 * The refund IBAN goes at the end of its dispute window after the refund; when the return ended with
 * no refund there is no payment to dispute, and it goes at once. A return still under way counts the
 * window from its dormancy (return-end.ts `paymentClockStart`), so an IBAN an erasure request kept
 * while the refund was owed does not stay for ever once the return has gone quiet.
 */
const paymentErase = returnsTarget(
  (rule, asOf, mode) => {
    const refundWindowOver = or(isPast(returns.refundedAt, rule, asOf), endedWithoutRefund)!;
    if (mode === 'probe') {
      return and(isNotNull(returns.ibanEnc), notRestricted, or(refundWindowOver, dormantFor(rule, asOf)))!;
    }
    return and(
      isNotNull(returns.ibanEnc),
      notRestricted,
      returnIdIn(returnIdsWhere(refundWindowOver), dormantReturnIds(rule, asOf)),
    )!;
  },
  async (tx, ids, context) => {
    const result = await eraseReturnsPaymentData(tx, ids, erasureContext(context));
    return { done: result.erased, held: result.held };
  },
  true,
);

/**
 * The record itself goes. Personal data are erased first, in the same transaction, so the subject's
 * keys are shredded the way an erasure does it even for a return that never closed.
 */
const accountingDelete = returnsTarget(
  // Counted from the refund; for a return that ended with none, from its end; for one that never
  // ends, from its dormancy (the record would otherwise stay for ever).
  (rule, asOf, mode) => {
    const refunded = isPast(returns.refundedAt, rule, asOf);
    const endedWithNone = and(endedWithoutRefund, closedFor(rule, asOf, mode))!;
    return mode === 'probe'
      ? and(notRestricted, or(refunded, endedWithNone, dormantFor(rule, asOf)))!
      : and(
          notRestricted,
          returnIdIn(returnIdsWhere(refunded), returnIdsWhere(endedWithNone), dormantReturnIds(rule, asOf)),
        )!;
  },
  async (tx, ids, context) => {
    let held = new Set<string>();
    const checked = await unlessHeld(tx, ids, context.asOf, async (due) => {
      await eraseReturnsContactData(tx, due, erasureContext(context));
      await eraseReturnsPaymentData(tx, due, erasureContext(context));
      // Checked again now that the erasure has locked the subjects too: a hold placed on a subject
      // since the first check keeps its returns' records.
      held = await heldReturnIds(tx, due, context.asOf);
      await deleteReturns(
        tx,
        due.filter((id) => !held.has(id)),
      );
    });
    return {
      done: checked.done.filter((id) => !held.has(id)),
      held: [...checked.held, ...held],
    };
  },
);

/**
 * A restriction still in force (Art. 18): its request is what the DPO lifts it through, so its period
 * has not started; once lifted, or its subject erased, it has.
 */
const restrictionInForce = sql`${restrictionNotLifted} and exists (
  select 1 from ${subjects} where ${subjects.id} = ${subjectRequests.subjectId}
    and ${subjects.restrictedAt} is not null and ${subjects.erasedAt} is null)`;

const finishedRequest = (rule: RetentionRule, asOf: Date) =>
  and(
    inArray(subjectRequests.status, ['completed', 'rejected']),
    // A lifted restriction's record proves the lift too (Art. 18(3)): its period runs from then.
    isPast(
      sql`greatest(${subjectRequests.completedAt}, (${subjectRequests.result}->>'liftedAt')::timestamptz)`,
      rule,
      asOf,
    ),
    sql`not (${restrictionInForce})`,
  )!;

/** Subject requests whose subject an active legal hold covers. */
async function heldRequestIds(executor: Executor, ids: string[], asOf: Date): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await executor
    .select({ id: subjectRequests.id, subjectId: subjectRequests.subjectId })
    .from(subjectRequests)
    .where(isAnyOf(subjectRequests.id, ids));
  const held = new Set<string>();
  for (const row of rows) {
    if (row.subjectId && (await activeHoldsFor(executor, { subjectId: row.subjectId }, asOf)).length > 0) {
      held.add(row.id);
    }
  }
  return held;
}

/** Subject-request records past their period (proof of compliance); a hold on the subject keeps them. */
function requestsTarget(
  dueWhere: (rule: RetentionRule, asOf: Date) => SQL,
  act: (tx: Executor, ids: string[]) => Promise<unknown>,
): AppliedTarget {
  return {
    kind: 'applied',
    rowType: 'subject_request',
    applyLocks: false,
    selectDue: async (executor, window, limit, lock) => {
      const query = executor
        .select({ id: subjectRequests.id })
        .from(subjectRequests)
        .where(
          and(
            window.afterKey ? gt(subjectRequests.id, window.afterKey) : undefined,
            window.beforeKey ? lt(subjectRequests.id, window.beforeKey) : undefined,
            dueWhere(window.rule, window.asOf),
          ),
        )
        .orderBy(subjectRequests.id)
        .limit(limit);
      const rows = lock ? await query.for('update') : await query;
      return rows.map((row) => row.id);
    },
    surveyDue: (executor, rule, asOf, lanes) =>
      surveyRows(
        executor,
        subjectRequests.id,
        sql`from ${subjectRequests} where ${dueWhere(rule, asOf)}`,
        lanes,
      ),
    held: heldRequestIds,
    apply: async (tx, ids, context) => {
      const held = await heldRequestIds(tx, ids, context.asOf);
      const done = ids.filter((id) => !held.has(id));
      if (done.length > 0) await act(tx, done);
      return { done, held: [...held] };
    },
  };
}

const requestsDelete = requestsTarget(finishedRequest, (tx, ids) =>
  tx.delete(subjectRequests).where(isAnyOf(subjectRequests.id, ids)),
);

/** The record stays (type, dates, status) without its answer and free-text reasons. */
const requestsRedact = requestsTarget(
  (rule, asOf) =>
    and(
      finishedRequest(rule, asOf),
      or(
        isNotNull(subjectRequests.result),
        isNotNull(subjectRequests.changesEnc),
        isNotNull(subjectRequests.rejectionReasonEnc),
        isNotNull(subjectRequests.extensionReasonEnc),
        // Clear text a start has not encrypted yet (subject-requests/encrypt-legacy-reasons.ts).
        isNotNull(subjectRequests.rejectionReason),
        isNotNull(subjectRequests.extensionReason),
      ),
    )!,
  (tx, ids) =>
    tx
      .update(subjectRequests)
      .set({
        result: null,
        changesEnc: null,
        rejectionReasonEnc: null,
        extensionReasonEnc: null,
        rejectionReason: null,
        extensionReason: null,
        updatedAt: sql`now()`,
      })
      .where(isAnyOf(subjectRequests.id, ids)),
);

/** Proof (tracking events) is encrypted under the contact key: it is archived and erased with it. */
const withContact = (action: string): RetentionTarget => ({
  kind: 'reported',
  note: `applied by the contact ${action} rule: tracking proof is encrypted under the contact data key`,
  countDue: (executor, rule, asOf) => {
    const due = action === 'archive' ? contactArchiveDue : contactEraseDue;
    return countRows(executor, sql`from ${returns} where ${due(rule, asOf, 'scan')}`);
  },
});

const auditReported: RetentionTarget = {
  kind: 'reported',
  note: 'the audit log is append-only: events past the period leave through the archival procedure (src/retention/README.md)',
  countDue: (executor, rule, asOf) =>
    countRows(executor, sql`from ${auditEvents} where ${isPast(auditEvents.occurredAt, rule, asOf)}`),
};

const targets: Record<string, RetentionTarget> = {
  'contact/archive': contactArchive,
  'contact/erase': contactErase,
  'proof/archive': withContact('archive'),
  'proof/erase': withContact('erase'),
  'payment/erase': paymentErase,
  'accounting/delete': accountingDelete,
  'requests/delete': requestsDelete,
  'requests/redact': requestsRedact,
  'audit/delete': auditReported,
};

/** How a rule is enforced; the policy schema only lets through pairs that have a target here. */
export function targetFor(rule: RetentionRule): RetentionTarget {
  const target = targets[`${rule.dataClass}/${rule.action}`];
  if (!target) throw new Error(`no retention target for ${rule.dataClass}/${rule.action}`);
  return target;
}
