import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allowedMerchantEvents,
  deriveStatus,
  type EventType,
  eventTypes,
  isMerchantTransitionAllowed,
  merchantTransitions,
  progressOf,
  returnStatuses,
  type StatusEvent,
} from '../../src/returns/return-status';

const at = (minute: number) => new Date(Date.UTC(2026, 2, 10, 8, minute));
const event = (type: EventType, minute: number, sequence = minute): StatusEvent => ({
  type,
  occurredAt: at(minute),
  sequence,
});

describe('merchant state machine', () => {
  it('walks the happy path of a letterbox return', () => {
    const path = [
      'label_created',
      'pickup_scheduled',
      'dispatched',
      'in_transit',
      'received',
      'inspected',
      'refunded',
      'closed',
    ] as const;
    let status: (typeof returnStatuses)[number] = 'created';
    for (const next of path) {
      expect(isMerchantTransitionAllowed(status, next)).toBe(true);
      status = next;
    }
  });

  it('refuses backwards and terminal moves, and always accepts anomalies', () => {
    expect(isMerchantTransitionAllowed('received', 'dispatched')).toBe(false);
    expect(isMerchantTransitionAllowed('refunded', 'rejected')).toBe(false);
    expect(isMerchantTransitionAllowed('dispatched', 'cancelled')).toBe(false);
    expect(allowedMerchantEvents('closed')).toEqual(['anomaly']);
    for (const status of returnStatuses) expect(isMerchantTransitionAllowed(status, 'anomaly')).toBe(true);
  });

  it('only allows moves that deriving the status would also make', () => {
    for (const from of returnStatuses) {
      for (const to of merchantTransitions[from]) {
        if (to === from) continue;
        expect(
          deriveStatus([event(from === 'created' ? 'anomaly' : from, 1), event(to, 2)]),
          `${from} -> ${to}`,
        ).toBe(to);
      }
    }
  });
});

describe('status derived from the event history', () => {
  it('ignores anomalies', () => {
    expect(deriveStatus([event('anomaly', 1)])).toBe('created');
    expect(deriveStatus([event('dispatched', 1), event('anomaly', 2)])).toBe('dispatched');
  });

  it('does not move back when an earlier scan arrives late', () => {
    expect(
      deriveStatus([event('received', 10, 1), event('in_transit', 5, 2), event('dispatched', 2, 3)]),
    ).toBe('received');
  });

  it('lets the later of a failed and a rescheduled pickup win', () => {
    expect(
      deriveStatus([event('pickup_scheduled', 1), event('pickup_failed', 2), event('pickup_scheduled', 3)]),
    ).toBe('pickup_scheduled');
    expect(deriveStatus([event('pickup_failed', 2, 2), event('pickup_scheduled', 1, 1)])).toBe(
      'pickup_failed',
    );
  });

  it('gives the same status whatever the arrival order, and never moves back as events arrive', () => {
    const arbitraryEvents = fc.uniqueArray(
      fc.record({ type: fc.constantFrom(...eventTypes), minute: fc.integer({ min: 0, max: 59 }) }),
      { maxLength: 10, selector: (e) => e.minute },
    );
    fc.assert(
      fc.property(arbitraryEvents, fc.infiniteStream(fc.nat()), (raw, seeds) => {
        const events = raw.map((e, index) => event(e.type, e.minute, index));
        const shuffled = [...events].sort(() => (seeds.next().value % 3) - 1);
        expect(deriveStatus(shuffled)).toBe(deriveStatus(events));
        let previous = deriveStatus([]);
        for (let count = 1; count <= events.length; count++) {
          const next = deriveStatus(events.slice(0, count));
          expect(progressOf(next)).toBeGreaterThanOrEqual(progressOf(previous));
          previous = next;
        }
      }),
    );
  });
});
