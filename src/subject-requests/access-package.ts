import { asc, eq, inArray, or } from 'drizzle-orm';
import { z } from 'zod';
import type { Executor } from '../audit/record-audit-event';
import type { DataClass } from '../crypto/data-classes';
import { loadSubjectKeyset } from '../crypto/field-cipher';
import { type SubjectRow, subjects } from '../crypto/subjects.schema';
import { activeHoldsFor } from '../legal-holds/active-holds';
import { holdReasons } from '../legal-holds/hold-reasons';
import { disclosuresForSubject } from '../pseudonymization/disclosure-register';
import { computeLegalClocks } from '../returns/legal-clocks';
import { decryptEventDetails, decryptReturnPersonalData } from '../returns/return-personal-data';
import { findEvents, findReturnsOfSubject } from '../returns/return-repository';
import type { EventType } from '../returns/return-status';
import { eventView, returnView, returnViewSchema } from '../returns/return-views';
import type { ReturnEventRow } from '../returns/returns.schema';
import { buildRecordOfProcessing, retentionStepSchema } from '../ropa/record-of-processing';
import { effectiveDueAt } from './calendar-month';
import type { SubjectRequestDeps } from './subject-request-deps';
import { subjectRequests } from './subject-requests.schema';

const readable: ReadonlySet<DataClass> = new Set(['contact', 'payment']);

/** Art. 20: what the person provided (contact and payment details, the items and reasons they gave). */
const providedReturnSchema = z.object({
  orderRef: z.string(),
  createdAt: z.string(),
  method: z.string(),
  customer: returnViewSchema.shape.customer,
  items: z.array(
    z.object({
      sku: z.string(),
      quantity: z.number().int(),
      reason: z.string(),
      comment: z.string().nullable(),
    }),
  ),
  refund: z.object({ method: z.string(), iban: z.string().nullable() }),
});

/** One JSON document answering Art. 15 (access) or Art. 20 (portability). */
export const subjectPackageSchema = z
  .object({
    format: z.enum(['returnvault.access/v1', 'returnvault.portability/v1']),
    requestId: z.uuid(),
    generatedAt: z.string(),
    policyVersion: z.string(),
    dataHeld: z.boolean(),
    statement: z.string(),
    controller: z.object({ name: z.string(), contact: z.string() }),
    dpo: z.object({ contact: z.string() }),
    subject: z.object({ id: z.uuid(), restricted: z.boolean(), erased: z.boolean() }).nullable(),
    returns: z.array(returnViewSchema).optional(),
    providedData: z.array(providedReturnSchema).optional(),
    purposes: z
      .array(
        z.object({
          id: z.string(),
          description: z.string(),
          legalBasis: z.string(),
          dataCategories: z.array(z.string()),
        }),
      )
      .optional(),
    recipients: z
      .object({
        disclosures: z.array(
          z.object({
            recipientId: z.string(),
            name: z.string(),
            purpose: z.string(),
            form: z.literal('pseudonymized'),
            firstDisclosedAt: z.string(),
            lastDisclosedAt: z.string(),
          }),
        ),
        declared: z.array(z.object({ id: z.string(), name: z.string(), purpose: z.string() })),
      })
      .optional(),
    retention: z.array(z.object({ dataClass: z.string(), steps: z.array(retentionStepSchema) })).optional(),
    sources: z
      .array(z.object({ dataCategory: z.string(), description: z.string(), source: z.string() }))
      .optional(),
    rights: z.array(z.object({ right: z.string(), article: z.string(), how: z.string() })).optional(),
    supervisoryAuthority: z.string().optional(),
    transfersOutsideEea: z.string().optional(),
    requests: z
      .array(
        z.object({
          id: z.uuid(),
          type: z.string(),
          status: z.string(),
          receivedAt: z.string(),
          dueAt: z.string(),
          completedAt: z.string().nullable(),
        }),
      )
      .optional()
      .meta({ description: "the subject's own requests: what was asked, when, and where each stands" }),
    legalHolds: z
      .array(
        z.object({
          id: z.uuid(),
          on: z.enum(['subject', 'return']),
          returnId: z.uuid().nullable(),
          reason: z.string().nullable(),
          since: z.string(),
          until: z.string().nullable(),
        }),
      )
      .optional(),
  })
  .meta({ id: 'SubjectPackage' });

export type SubjectPackage = z.infer<typeof subjectPackageSchema>;

/**
 * The subject's own requests: those tied to it by id, and those that only carry the blind index of
 * its e-mail (received before the subject existed, then rejected or still open, this one included),
 * matched on the digest the subject is stored under. One kept under an older blind-index key is the
 * subject's by id when it was still open as the subject was created (crypto/subjects.ts
 * `claimOpenRequests`); one answered before is not found: the e-mail is not kept to compute its digest
 * again. Both columns are indexed.
 */
function requestsOfSubject(executor: Executor, subject: SubjectRow) {
  const digests = [subject.emailIndex].filter((digest): digest is Buffer => digest !== null);
  return executor
    .select({
      id: subjectRequests.id,
      type: subjectRequests.type,
      status: subjectRequests.status,
      receivedAt: subjectRequests.receivedAt,
      dueAt: subjectRequests.dueAt,
      extendedDueAt: subjectRequests.extendedDueAt,
      completedAt: subjectRequests.completedAt,
    })
    .from(subjectRequests)
    .where(
      or(
        eq(subjectRequests.subjectId, subject.id),
        digests.length > 0 ? inArray(subjectRequests.emailIndex, digests) : undefined,
      ),
    )
    .orderBy(asc(subjectRequests.receivedAt), asc(subjectRequests.id));
}

function groupEvents(events: ReturnEventRow[]): Map<string, ReturnEventRow[]> {
  const byReturn = new Map<string, ReturnEventRow[]>();
  for (const event of events) byReturn.set(event.returnId, [...(byReturn.get(event.returnId) ?? []), event]);
  return byReturn;
}

/**
 * Builds the package from the live data: every return of the subject decrypted, with its events, and
 * what Art. 15(1) asks beside the data (purposes, recipients and when they received it, retention,
 * sources, rights, legal holds). An unknown subject gets a package saying that no data is held.
 */
export async function buildSubjectPackage(
  deps: SubjectRequestDeps,
  executor: Executor,
  request: { id: string; type: 'access' | 'portability'; subjectId: string | null },
  now: Date,
): Promise<SubjectPackage> {
  const { policies } = deps;
  const record = policies.processingRecord;
  const [subject] = request.subjectId
    ? await executor.select().from(subjects).where(eq(subjects.id, request.subjectId))
    : [];
  const rows = subject ? await findReturnsOfSubject(executor, subject.id, {}) : [];
  // An erasure can keep a return's IBAN (a refund owed, or its dispute window): data is still held.
  const stillHolds = (row: { erasedAt: Date | null; ibanEnc: Buffer | null }) =>
    row.erasedAt === null || row.ibanEnc !== null;
  const dataHeld = rows.some(stillHolds);
  const base = {
    requestId: request.id,
    generatedAt: now.toISOString(),
    policyVersion: policies.version,
    dataHeld,
    statement: dataHeld
      ? `Personal data is held on you in ${rows.length} return(s).`
      : subject && rows.length > 0
        ? 'Your personal data was erased; only records the law requires us to keep remain, without your contact details.'
        : 'No personal data is held on this e-mail address.',
    controller: { name: record.controller.name, contact: record.controller.contact },
    dpo: record.dpo,
    subject: subject
      ? { id: subject.id, restricted: subject.restrictedAt !== null, erased: subject.erasedAt !== null }
      : null,
  };
  const keys = subject ? await loadSubjectKeyset(executor, deps.keyring, subject.id) : undefined;
  const events = groupEvents(
    await findEvents(
      executor,
      rows.map((row) => row.id),
    ),
  );

  const returnViews = rows.map((row) => {
    const timeline = events.get(row.id) ?? [];
    const clockEvents = timeline.map((event) => ({
      type: event.type as EventType,
      occurredAt: event.occurredAt,
    }));
    return returnView(
      row,
      decryptReturnPersonalData(keys!, row, readable),
      computeLegalClocks(row, clockEvents, policies.returnRules, now),
      timeline.map((event) => eventView(event, decryptEventDetails(keys!, event, readable))),
      [],
    );
  });
  if (request.type === 'portability') {
    return {
      format: 'returnvault.portability/v1',
      ...base,
      providedData: returnViews
        .filter((_, index) => stillHolds(rows[index]!))
        .map((view) => ({
          orderRef: view.orderRef,
          createdAt: view.createdAt,
          method: view.method,
          customer: view.customer,
          items: view.items.map(({ sku, quantity, reason, comment }) => ({ sku, quantity, reason, comment })),
          refund: { method: view.refund.method, iban: view.refund.iban },
        })),
    };
  }
  const disclosures = subject ? await disclosuresForSubject(executor, subject.id) : [];
  // The subject's own requests are data held on them too (Art. 15): what they asked and when.
  const requests = subject ? await requestsOfSubject(executor, subject) : [];
  const holds = subject
    ? await activeHoldsFor(executor, { subjectId: subject.id, returnIds: rows.map((row) => row.id) }, now)
    : [];
  const reasons = await holdReasons(executor, deps.keyring, holds);
  const processing = buildRecordOfProcessing(policies);
  return {
    format: 'returnvault.access/v1',
    ...base,
    returns: returnViews,
    purposes: processing.purposes.map(({ id, description, legalBasis, dataCategories }) => ({
      id,
      description,
      legalBasis,
      dataCategories,
    })),
    recipients: {
      disclosures: disclosures.map((disclosure) => {
        const recipient = policies.recipients.find((candidate) => candidate.id === disclosure.recipientId);
        return {
          recipientId: disclosure.recipientId,
          name: recipient?.name ?? disclosure.recipientId,
          purpose: recipient?.purpose ?? 'no longer declared',
          form: 'pseudonymized' as const,
          firstDisclosedAt: disclosure.firstDisclosedAt.toISOString(),
          lastDisclosedAt: disclosure.lastDisclosedAt.toISOString(),
        };
      }),
      declared: policies.recipients.map(({ id, name, purpose }) => ({ id, name, purpose })),
    },
    retention: processing.dataCategories.map((category) => ({
      dataClass: category.id,
      steps: category.retention,
    })),
    sources: record.dataCategories.map((category) => ({
      dataCategory: category.id,
      description: category.description,
      source: category.source,
    })),
    rights: record.rights,
    supervisoryAuthority: record.supervisoryAuthority,
    transfersOutsideEea: record.transfersOutsideEea,
    requests: requests.map((row) => ({
      id: row.id,
      type: row.type,
      status: row.status,
      receivedAt: row.receivedAt.toISOString(),
      dueAt: effectiveDueAt(row).toISOString(),
      completedAt: row.completedAt?.toISOString() ?? null,
    })),
    legalHolds: holds.map((hold) => ({
      id: hold.id,
      on: hold.returnId ? ('return' as const) : ('subject' as const),
      returnId: hold.returnId,
      reason: reasons.get(hold.id) ?? null,
      since: hold.createdAt.toISOString(),
      until: hold.until?.toISOString() ?? null,
    })),
  };
}
