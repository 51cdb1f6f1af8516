/**
 * Normalised event types and the status of a return. `anomaly` is recorded in the timeline but never
 * changes the status.
 */
export const eventTypes = [
  'label_created',
  'pickup_scheduled',
  'dispatched',
  'pickup_failed',
  'in_transit',
  'received',
  'inspected',
  'refunded',
  'rejected',
  'cancelled',
  'closed',
  'anomaly',
] as const;
export type EventType = (typeof eventTypes)[number];

export const returnStatuses = ['created', ...eventTypes.filter((type) => type !== 'anomaly')] as const;
/** Event types that change the status. */
export type StatusChange = Exclude<EventType, 'anomaly'>;
export type ReturnStatus = StatusChange | 'created';

/**
 * What a merchant (or an agent) may post from each status. Carrier scans are not checked against this
 * table: they report facts, which `deriveStatus` orders.
 */
export const merchantTransitions: Record<ReturnStatus, readonly StatusChange[]> = {
  created: ['label_created', 'pickup_scheduled', 'dispatched', 'received', 'cancelled'],
  label_created: ['pickup_scheduled', 'dispatched', 'received', 'cancelled'],
  pickup_scheduled: ['dispatched', 'pickup_failed', 'received', 'cancelled'],
  pickup_failed: ['pickup_scheduled', 'dispatched', 'received', 'cancelled'],
  dispatched: ['in_transit', 'received'],
  in_transit: ['in_transit', 'received'],
  received: ['inspected', 'refunded', 'rejected'],
  inspected: ['refunded', 'rejected'],
  refunded: ['closed'],
  rejected: ['closed'],
  cancelled: ['closed'],
  closed: [],
};

/** Allowed merchant transitions from `from`; anomalies are always accepted. */
export function allowedMerchantEvents(from: ReturnStatus): readonly EventType[] {
  return [...merchantTransitions[from], 'anomaly'];
}

export function isMerchantTransitionAllowed(from: ReturnStatus, to: EventType): boolean {
  return allowedMerchantEvents(from).includes(to);
}

/**
 * How far along a return is. The status only moves to a higher rank, so a scan that arrives late
 * (an earlier collection scan after the goods were received) never moves it back. Pickup scheduling
 * and failure share a rank: a failed pickup can be rescheduled, and the later one in time wins.
 */
const statusRank: Record<ReturnStatus, number> = {
  created: 0,
  label_created: 1,
  pickup_scheduled: 2,
  pickup_failed: 2,
  dispatched: 3,
  in_transit: 4,
  received: 5,
  inspected: 6,
  refunded: 7,
  rejected: 7,
  cancelled: 8,
  closed: 9,
};

/** How far along a status is; the derived status never goes down this scale. */
export function progressOf(status: ReturnStatus): number {
  return statusRank[status];
}

const swappableAtSameRank = new Set<ReturnStatus>(['pickup_scheduled', 'pickup_failed']);

export interface StatusEvent {
  type: EventType;
  occurredAt: Date;
  /** Arrival order, used only to break ties between events of the same instant. */
  sequence: number;
}

function moves(current: ReturnStatus, next: EventType): next is StatusChange {
  if (next === 'anomaly') return false;
  const from = statusRank[current];
  const to = statusRank[next];
  return to > from || (to === from && next !== current && swappableAtSameRank.has(next));
}

/**
 * The status a return's history leads to: events in the order they happened, each applied when it
 * moves the return forward. The result depends on the set of events, not the order they arrived in.
 */
export function deriveStatus(events: readonly StatusEvent[]): ReturnStatus {
  const ordered = [...events].sort(
    (a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.sequence - b.sequence,
  );
  let status: ReturnStatus = 'created';
  for (const event of ordered) {
    if (moves(status, event.type)) status = event.type;
  }
  return status;
}
