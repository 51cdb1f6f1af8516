import { and, asc, eq } from 'drizzle-orm';
import type { AuditContext, Executor } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { Policies } from '../policies/load-policies';
import type { Signer } from '../signing/signing-key';
import { subjectRequests } from '../subject-requests/subject-requests.schema';
import { certificateDigest, signErasureCertificate } from './erasure-certificate';
import type { ErasedData, ErasureOutcome, KeptData } from './erasure-outcome';

/**
 * One step of an erasure request a legal hold deferred, appended to the request's
 * `result.completions`: the request's own `erased`, `kept` and `certificate` stay as signed then.
 */
export interface ErasureCompletion {
  at: string;
  erased: ErasedData[];
  /** What is still kept after this step, why and until when (a hold may still cover some of it). */
  kept: KeptData[];
  policyVersion: string;
  /**
   * Compact JWS over this step (`completes` names the request's certificate); null for a request
   * recorded with no certificate, which has none to name.
   */
  certificate: string | null;
}

/** The part of erase.ts's ErasureContext this needs (declared here: erase.ts imports this file). */
interface CompletionContext {
  audit: AuditContext;
  policies: Policies;
  now: Date;
  origin: string;
  signer: Signer;
}

function completionsOf(result: Record<string, unknown>): ErasureCompletion[] {
  return Array.isArray(result.completions) ? (result.completions as ErasureCompletion[]) : [];
}

/** The request still says a hold keeps something: its latest step (completion, or itself) does. */
function keptForHold(result: Record<string, unknown>): boolean {
  const latest = completionsOf(result).at(-1)?.kept ?? result.kept;
  return Array.isArray(latest) && (latest as KeptData[]).some((kept) => kept.reason === 'legal_hold');
}

/**
 * Records a deferred erasure's completion on each completed erasure request of the subject whose
 * answer still says a legal hold keeps something, with a certificate of its own. The subject is locked by the caller (completeDeferredErasure), as an execution locks it.
 * Answers how many requests were updated.
 */
export async function recordDeferredCompletions(
  tx: Executor,
  subjectId: string,
  context: CompletionContext,
  outcome: ErasureOutcome,
): Promise<number> {
  const requests = await tx
    .select({ id: subjectRequests.id, result: subjectRequests.result })
    .from(subjectRequests)
    .where(
      and(
        eq(subjectRequests.subjectId, subjectId),
        eq(subjectRequests.type, 'erasure'),
        eq(subjectRequests.status, 'completed'),
      ),
    )
    .orderBy(asc(subjectRequests.completedAt), asc(subjectRequests.id))
    .for('update');
  let updated = 0;
  for (const request of requests) {
    const result = request.result ?? {};
    if (!keptForHold(result)) continue;
    const completions = completionsOf(result);
    const sequence = completions.length + 1;
    const original = typeof result.certificate === 'string' ? result.certificate : null;
    const certificate = original
      ? await signErasureCertificate(context.signer, {
          requestId: request.id,
          subjectId,
          erasedAt: context.now,
          erased: outcome.erased,
          kept: outcome.kept,
          policyVersion: context.policies.version,
          completes: {
            sequence,
            requestErasedAt: String(result.erasedAt),
            certificateSha256: certificateDigest(original),
          },
        })
      : null;
    const completion: ErasureCompletion = {
      at: context.now.toISOString(),
      erased: outcome.erased,
      kept: outcome.kept,
      policyVersion: context.policies.version,
      certificate,
    };
    await tx
      .update(subjectRequests)
      .set({ result: { ...result, completions: [...completions, completion] }, updatedAt: context.now })
      .where(eq(subjectRequests.id, request.id));
    await recordAuditEvent(tx, context.audit, {
      action: 'subject_request.erasure_completed',
      outcome: 'success',
      targetType: 'subject_request',
      targetId: request.id,
      subjectRef: subjectId,
      details: {
        type: 'erasure',
        origin: context.origin,
        policyVersion: context.policies.version,
        completion: sequence,
        erased: Object.fromEntries(outcome.erased.map((entry) => [entry.dataClass, entry.returns])),
        stillKeptForHold: outcome.kept.some((kept) => kept.reason === 'legal_hold'),
        signed: certificate !== null,
      },
    });
    updated += 1;
  }
  return updated;
}
