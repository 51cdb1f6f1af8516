import { createHash } from 'node:crypto';
import type { AuditContext } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { EmailBlindIndex } from '../crypto/blind-index';
import type { DataClass } from '../crypto/data-classes';
import { loadSubjectKeyset, SubjectKeyset } from '../crypto/field-cipher';
import { intakeKeyset, newSubject } from '../crypto/intake-keyset';
import type { MasterKeyring } from '../crypto/master-keyring';
import { findSubjectIdByEmail } from '../crypto/subjects';
import type { Database } from '../db/database';
import { timeOrderedUuid } from '../db/time-ordered-uuid';
import { AppError } from '../http/app-error';
import type { Purpose } from '../policies/purposes-policy';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { mapCarrierCode } from './carrier-codes';
import { computeLegalClocks, type LegalClocks, withinWithdrawalWindow } from './legal-clocks';
import { letterboxRefusals } from './letterbox';
import { postalArea } from './postal-codes';
import { purposeAllowsState, readableData } from './read-purpose';
import { isEndStatus } from './return-end';
import {
  decryptEventDetails,
  decryptReturnPersonalData,
  encryptEventDetails,
  encryptReturnPersonalData,
} from './return-personal-data';
import {
  findEventByDedupeKey,
  findEvents,
  findReturnsOfSubject,
  insertReturn,
  insertReturnEvent,
  insertReturnOfNewSubject,
  lockReturn,
  type MerchantScope,
  readReturnAudited,
  updateReturnProgress,
  wakeDormantReturn,
} from './return-repository';
import type { CreateReturnBody, ReturnEventBody } from './return-requests';
import {
  allowedMerchantEvents,
  deriveStatus,
  type EventType,
  isMerchantTransitionAllowed,
  type ReturnStatus,
} from './return-status';
import { createdReturnView, eventView, type ReturnView, returnView } from './return-views';
import type { NewReturnRow, ReturnEventRow, ReturnRow } from './returns.schema';

export interface ReturnDependencies {
  db: Database;
  keyring: MasterKeyring;
  emailIndex: EmailBlindIndex;
  rules: ReturnRulesPolicy;
}

/** Who acts and why: audit events carry it; `merchantId` of the token limits what it sees. */
export interface ReturnCaller extends AuditContext {
  scope: MerchantScope;
}

/** Why a return is refused; codes only, so the answer and the audit event hold no personal data. */
export function eligibilityRefusals(
  body: Pick<CreateReturnBody, 'deliveredAt' | 'withdrawalInfoGiven' | 'method' | 'parcel'>,
  notifiedAt: Date,
  rules: ReturnRulesPolicy,
): string[] {
  const refusals: string[] = [];
  const facts = { deliveredAt: body.deliveredAt, notifiedAt, withdrawalInfoGiven: body.withdrawalInfoGiven };
  if (!withinWithdrawalWindow(facts, rules)) refusals.push('withdrawal_period_expired');
  if (body.method === 'mailbox' && body.parcel)
    refusals.push(...letterboxRefusals(body.parcel, rules.letterbox));
  return refusals;
}

function clocksOf(
  row: ReturnRow,
  events: readonly ReturnEventRow[],
  rules: ReturnRulesPolicy,
  now: Date,
): LegalClocks {
  return computeLegalClocks(
    {
      deliveredAt: row.deliveredAt,
      notifiedAt: row.notifiedAt,
      withdrawalInfoGiven: row.withdrawalInfoGiven,
    },
    events.map((event) => ({ type: event.type as EventType, occurredAt: event.occurredAt })),
    rules,
    now,
  );
}

/**
 * POST /v1/returns. Eligibility is decided before anything personal is touched: a refused return
 * leaves only an audit event (codes, no personal data), no subject and no row.
 */
export async function createReturn(deps: ReturnDependencies, caller: ReturnCaller, body: CreateReturnBody) {
  if (caller.scope.merchantId !== undefined && caller.scope.merchantId !== body.merchantId) {
    throw new AppError('forbidden', 'The token may create returns only for its own merchant.');
  }
  const now = new Date();
  const notifiedAt = body.notifiedAt ?? now;
  const refusals = eligibilityRefusals(body, notifiedAt, deps.rules);
  if (refusals.length > 0) {
    await recordAuditEvent(deps.db, caller, {
      action: 'return.create',
      outcome: 'denied',
      targetType: 'return',
      details: { merchantId: body.merchantId, reasons: refusals },
    });
    throw new AppError('return_not_eligible', 'The return is not eligible; see reasons.', {
      reasons: refusals,
    });
  }

  const id = timeOrderedUuid();
  const clocks = computeLegalClocks(
    { deliveredAt: body.deliveredAt, notifiedAt, withdrawalInfoGiven: body.withdrawalInfoGiven },
    [],
    deps.rules,
    now,
  );
  const { customer, items } = body;
  const rowUnder = (keys: SubjectKeyset): NewReturnRow => ({
    id,
    merchantId: body.merchantId,
    orderRef: body.orderRef,
    subjectId: keys.subjectId,
    status: 'created',
    method: body.method,
    refundMethod: body.refund.method,
    withdrawalInfoGiven: body.withdrawalInfoGiven,
    deliveredAt: body.deliveredAt,
    notifiedAt,
    withdrawalDeadline: clocks.withdrawalDeadline,
    returnDeadline: clocks.returnDeadline,
    items: items.map(({ sku, quantity, unitPriceCents, reason }) => ({
      sku,
      quantity,
      unitPriceCents,
      reason,
    })),
    totalCents: items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0),
    parcel: body.parcel ?? null,
    postalArea: postalArea(customer.address.country, customer.address.postalCode),
    country: customer.address.country,
    createdAt: now,
    updatedAt: now,
    ...encryptReturnPersonalData(keys, id, {
      name: customer.name,
      email: customer.email,
      phone: customer.phone ?? null,
      line1: customer.address.line1,
      line2: customer.address.line2 ?? null,
      postalCode: customer.address.postalCode,
      city: customer.address.city,
      itemComments: items.map((item) => item.comment ?? null),
      iban: body.refund.iban ?? null,
    }),
  });
  const classes: DataClass[] = body.refund.iban ? ['contact', 'payment'] : ['contact'];
  const details = { merchantId: body.merchantId, items: items.length };
  // Most returns come from an e-mail never seen: one statement. A known one encrypts again under
  // its subject's keys (the AAD names the subject), in a transaction that holds the subject.
  const subject = newSubject(deps.emailIndex, deps.keyring, customer.email, classes);
  const stored = await insertReturnOfNewSubject(deps.db, subject, rowUnder(subject.keyset), {
    context: caller,
    details,
  });
  if (!stored) {
    await deps.db.transaction(async (tx) => {
      const keys = await intakeKeyset(tx, deps.emailIndex, deps.keyring, customer.email, subject);
      // Sent together: postgres.js pipelines them on the transaction's connection.
      await Promise.all([
        insertReturn(tx, rowUnder(keys)),
        recordAuditEvent(tx, caller, {
          action: 'return.create',
          outcome: 'success',
          targetType: 'return',
          targetId: id,
          subjectRef: keys.subjectId,
          details,
        }),
      ]);
    });
  }
  return createdReturnView(
    {
      id,
      merchantId: body.merchantId,
      orderRef: body.orderRef,
      status: 'created',
      refundMethod: body.refund.method,
      refundedCents: null,
      createdAt: now,
    },
    clocks,
  );
}

const noClasses: ReadonlySet<DataClass> = new Set();

/**
 * What of an erased return a purpose may still read: only payment data an erasure kept (the IBAN of a
 * refund still owed, or in its dispute window), and only when the purpose may read the return's data
 * state. An erased return is otherwise answered to any purpose, with its personal fields null.
 */
function keptAfterErasure(
  row: ReturnRow,
  classes: ReadonlySet<DataClass>,
  purpose: Purpose,
): ReadonlySet<DataClass> {
  if (!classes.has('payment') || !purposeAllowsState(purpose, row.dataState)) return noClasses;
  return new Set<DataClass>(['payment']);
}

/** The view of one return for a purpose whose access was already checked. */
function decryptedView(
  deps: ReturnDependencies,
  row: ReturnRow,
  events: ReturnEventRow[],
  keys: SubjectKeyset,
  purpose: Purpose,
  now: Date,
): ReturnView {
  const clocks = clocksOf(row, events, deps.rules, now);
  const readable = readableData(purpose);
  const returnClasses = row.erasedAt
    ? keptAfterErasure(row, readable.returnClasses, purpose)
    : readable.returnClasses;
  // Nothing of an erased return's tracking is readable, whatever an older row may still hold.
  const eventClasses = row.erasedAt ? noClasses : readable.eventClasses;
  const personal = decryptReturnPersonalData(keys, row, returnClasses);
  const eventViews = events.map((event) => eventView(event, decryptEventDetails(keys, event, eventClasses)));
  // The purpose may read payment data, but not in this data state: the kept IBAN is withheld, and says so.
  const hidesKeptIban =
    row.ibanEnc !== null && readable.returnClasses.has('payment') && !returnClasses.has('payment');
  const withheld = hidesKeptIban ? [...readable.withheld, 'payment'] : readable.withheld;
  return returnView(row, personal, clocks, eventViews, withheld);
}

/**
 * GET /v1/returns/:id. An erased return answers with its personal fields null; a restricted or
 * archived one only to a purpose allowed on that state. The read and its audit event are one statement.
 */
export async function getReturn(
  deps: ReturnDependencies,
  caller: ReturnCaller,
  id: string,
  purpose: Purpose,
): Promise<ReturnView> {
  const now = new Date();
  const found = await readReturnAudited(deps.db, id, caller.scope, {
    context: caller,
    allowedStates: purpose.allowedStates,
    withheld: readableData(purpose).withheld,
  });
  if (!found) throw new AppError('not_found', 'No return with this id.');
  const { row, events, keys } = found;
  if (!row.erasedAt && !purposeAllowsState(purpose, row.dataState)) {
    throw new AppError('purpose_not_allowed', `The purpose does not allow reading ${row.dataState} data.`, {
      dataState: row.dataState,
    });
  }
  const keyset = new SubjectKeyset(row.subjectId, deps.keyring, keys, new Map());
  return decryptedView(deps, row, events, keyset, purpose, now);
}

/**
 * GET /v1/returns?email=: the subject is found through the keyed blind index only. Returns whose data
 * state the purpose may not read are left out and counted.
 */
export async function findReturnsByEmail(
  deps: ReturnDependencies,
  caller: ReturnCaller,
  email: string,
  purpose: Purpose,
): Promise<{ items: ReturnView[]; withheld: number }> {
  const now = new Date();
  return deps.db.transaction(async (tx) => {
    const subjectId = await findSubjectIdByEmail(tx, deps.emailIndex, email);
    const rows = subjectId ? await findReturnsOfSubject(tx, subjectId, caller.scope) : [];
    const readable = rows.filter((row) => row.erasedAt || purposeAllowsState(purpose, row.dataState));
    const events = await findEvents(
      tx,
      readable.map((row) => row.id),
    );
    const keys = subjectId ? await loadSubjectKeyset(tx, deps.keyring, subjectId) : undefined;
    const items = readable.map((row) =>
      decryptedView(
        deps,
        row,
        events.filter((event) => event.returnId === row.id),
        keys!,
        purpose,
        now,
      ),
    );
    await recordAuditEvent(tx, caller, {
      action: 'return.search',
      outcome: 'success',
      targetType: 'subject',
      targetId: subjectId ?? null,
      subjectRef: subjectId ?? null,
      details: { by: 'email_blind_index', found: rows.length, returned: items.length },
    });
    for (const [index, row] of readable.entries()) {
      await recordAuditEvent(tx, caller, {
        action: 'return.read',
        outcome: 'success',
        targetType: 'return',
        targetId: row.id,
        subjectRef: row.subjectId,
        // What the purpose could not see, as a read by id records it.
        details: {
          via: 'email_lookup',
          withheld: items[index]!.withheldCategories,
          erased: row.erasedAt !== null,
        },
      });
    }
    return { items, withheld: rows.length - readable.length };
  });
}

/** Same return, type or carrier code, instant and carrier: the same event. */
function dedupeKey(returnId: string, kind: string, occurredAt: Date, carrier: string | undefined): string {
  return createHash('sha256')
    .update([returnId, kind, occurredAt.toISOString(), carrier ?? ''].join('\u0000'))
    .digest('hex');
}

/**
 * POST /v1/returns/:id/events. Every event is stored (unknown carrier codes as anomalies); a repeat is
 * accepted once; the status and clocks are derived again from the whole history, so events may arrive
 * in any order. A merchant event must be an allowed transition from the current status.
 */
export async function recordReturnEvent(
  deps: ReturnDependencies,
  caller: ReturnCaller,
  returnId: string,
  body: ReturnEventBody,
) {
  const now = new Date();
  const carrier = body.carrierCode !== undefined ? mapCarrierCode(body.carrierCode) : undefined;
  const type: EventType = carrier ? carrier.type : body.type!;
  const origin = carrier ? 'carrier' : 'merchant';
  const key = dedupeKey(returnId, body.carrierCode ?? body.type!, body.occurredAt, body.carrier);

  const outcome = await deps.db.transaction(async (tx) => {
    const row = await lockReturn(tx, returnId, caller.scope);
    if (!row) throw new AppError('not_found', 'No return with this id.');
    // Nothing of a return happens before its goods were delivered. An earlier date would start the
    // retention clocks (and stop the refund clock) in the past: data erased early, lateness hidden.
    if (body.occurredAt < row.deliveredAt) {
      throw new AppError('unprocessable', 'occurredAt is before the goods were delivered (deliveredAt).', {
        errors: [{ path: 'body.occurredAt', message: "must not be before the return's deliveredAt" }],
      });
    }
    const existing = await findEventByDedupeKey(tx, key);
    if (existing) return { row, event: existing, duplicate: true, events: await findEvents(tx, [row.id]) };
    if (origin === 'merchant' && !isMerchantTransitionAllowed(row.status as ReturnStatus, type)) {
      return { row, refused: true as const };
    }
    const eventId = timeOrderedUuid();
    const keys = await loadSubjectKeyset(tx, deps.keyring, row.subjectId);
    const inserted = await insertReturnEvent(tx, {
      id: eventId,
      returnId,
      type,
      origin,
      carrierCode: body.carrierCode ?? null,
      carrier: body.carrier ?? null,
      occurredAt: body.occurredAt,
      receivedAt: now,
      dedupeKey: key,
      amountCents: body.amountCents ?? null,
      reason: body.reason ?? carrier?.reason ?? null,
      // An erased return keeps no new tracking details, even while other returns keep the key alive.
      ...(row.erasedAt
        ? { locationEnc: null, proofEnc: null }
        : encryptEventDetails(keys, eventId, { location: body.location, proof: body.proof })),
    });
    const events = await findEvents(tx, [row.id]);
    const event = events.find((candidate) => candidate.dedupeKey === key)!;
    if (!inserted) return { row, event, duplicate: true, events };
    const status = deriveStatus(
      events.map((candidate) => ({
        type: candidate.type as EventType,
        occurredAt: candidate.occurredAt,
        sequence: candidate.arrival,
      })),
    );
    const clocks = clocksOf(row, events, deps.rules, now);
    const refundedCents = events.find((candidate) => candidate.type === 'refunded')?.amountCents ?? null;
    await updateReturnProgress(
      tx,
      row,
      { status, refundDueAt: clocks.refund.dueAt, refundedAt: clocks.refund.refundedAt, refundedCents },
      { type, carrierCode: body.carrierCode ?? null, occurredAt: body.occurredAt },
    );
    // Archived while under way, it was dormant: awake now, even when this event ends it (its end-based
    // clocks then apply from the next retention run). An ended return stays archived until it is under
    // way again.
    if (row.archivedAt && (!isEndStatus(row.status) || !isEndStatus(status))) {
      await wakeDormantReturn(tx, row.id);
    }
    await recordAuditEvent(tx, caller, {
      action: 'return.event',
      outcome: 'success',
      targetType: 'return',
      targetId: row.id,
      subjectRef: row.subjectId,
      details: { type, origin, carrierCode: body.carrierCode ?? null, known: carrier?.known ?? true },
    });
    return { row: { ...row, status, refundedCents }, event, duplicate: false, events };
  });

  if ('refused' in outcome) {
    const allowed = allowedMerchantEvents(outcome.row.status as ReturnStatus);
    await recordAuditEvent(deps.db, caller, {
      action: 'return.event',
      outcome: 'denied',
      targetType: 'return',
      targetId: outcome.row.id,
      subjectRef: outcome.row.subjectId,
      details: { type, from: outcome.row.status, reason: 'transition_not_allowed' },
    });
    throw new AppError(
      'transition_not_allowed',
      `A ${type} event is not allowed from status ${outcome.row.status}.`,
      // Not `status`: that member of a problem is the HTTP status.
      { currentStatus: outcome.row.status, allowed },
    );
  }
  const clocks = clocksOf(outcome.row, outcome.events, deps.rules, now);
  return {
    duplicate: outcome.duplicate,
    event: eventView(outcome.event, { location: null, proof: null }),
    return: createdReturnView(outcome.row, clocks),
  };
}
