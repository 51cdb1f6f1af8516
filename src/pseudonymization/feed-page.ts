import type { z } from 'zod';
import type { AuditContext } from '../audit/record-audit-event';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { Database } from '../db/database';
import type { Recipient } from '../policies/recipients-policy';
import { recordFeedPageDisclosure } from './disclosure-register';
import { decodeCursor, encodeCursor, type FeedPosition, feedStart } from './feed-cursor';
import { type feedPageSchema, feedProjection } from './feed-item';
import { readFeedRows } from './feed-reader';
import type { RecipientKeys } from './pseudonyms';

export const defaultFeedLimit = 100;
export const maxFeedLimit = 1000;

export type FeedPage = z.infer<typeof feedPageSchema>;

const positionText = (position: FeedPosition) => `${position.xid}:${position.seq}`;

/**
 * One page of the feed for one recipient. The read, the disclosure register and the audit event
 * commit together: a page the register does not know of was never served.
 */
export async function readFeedPage(
  db: Database,
  request: {
    recipient: Recipient;
    keys: RecipientKeys;
    after?: string;
    limit: number;
    merchantId?: string;
    audit: AuditContext;
  },
): Promise<FeedPage> {
  const { recipient, keys } = request;
  const after = request.after === undefined ? feedStart : decodeCursor(request.after, keys.cursorKey);
  const limit = Math.min(request.limit, maxFeedLimit);
  const project = feedProjection(recipient, keys);

  return db.transaction(async (tx) => {
    const rows = await readFeedRows(tx, {
      after,
      limit,
      dates: recipient.generalisation.dates,
      merchantId: request.merchantId,
    });
    const last = rows.at(-1);
    const next = last ? { xid: BigInt(last.xid), seq: BigInt(last.seq) } : after;

    const subjectIds = new Set<string>();
    const tombstones: { returnId: string; subjectId: string }[] = [];
    for (const row of rows) {
      if (row.erased) tombstones.push({ returnId: row.returnId, subjectId: row.subjectId });
      else subjectIds.add(row.subjectId);
    }
    // Both writes go out before the projection runs: the database works while the HMACs are computed.
    const registered = recordFeedPageDisclosure(tx, {
      recipientId: recipient.id,
      subjectIds: [...subjectIds],
      tombstones,
    });
    const audited = recordAuditEvent(tx, request.audit, {
      action: 'pseudonymized_feed.read',
      outcome: 'success',
      targetType: 'recipient',
      targetId: recipient.id,
      details: {
        count: rows.length,
        tombstones: tombstones.length,
        subjects: subjectIds.size,
        after: positionText(after),
        next: positionText(next),
      },
    });
    const written = Promise.all([registered, audited]);
    // Handled now, awaited below: a failure during the yield must not count as an unhandled rejection.
    written.catch(() => undefined);
    // Queries leave on a later tick: yield once so they are on the wire before the CPU-bound projection.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const items = rows.map(project);
    await written;
    return { items, next: encodeCursor(next, keys.cursorKey), hasMore: rows.length === limit };
  });
}
