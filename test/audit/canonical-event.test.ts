import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalLeaf, type LoggedEvent } from '../../src/audit/canonical-event';

const event: LoggedEvent = {
  eventId: '0b0c1f4e-7d55-4a57-a3a8-4ad1f1ff7bd2',
  occurredAt: '2026-11-26T05:00:00.123456Z',
  actor: 'svc-a',
  actorScopes: ['returns:write'],
  clientId: null,
  action: 'return.created',
  targetType: 'return',
  targetId: 'ret-1',
  subjectRef: 'subj-1',
  purpose: null,
  outcome: 'success',
  requestId: 'req-1',
  details: { status: 'created', items: 2 },
};

describe('canonical audit leaf', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: null, e: 'é' }], c: true } })).toBe(
      '{"a":{"c":true,"d":[3,{"e":"é","f":null}]},"b":1}',
    );
  });

  it('is the same whatever the key order of the event and ignores fields outside the event', () => {
    const reordered = Object.fromEntries(Object.entries(event).reverse()) as LoggedEvent;
    const withPosition = { ...event, position: 7 } as LoggedEvent;
    expect(canonicalLeaf(reordered).equals(canonicalLeaf(event))).toBe(true);
    expect(canonicalLeaf(withPosition).equals(canonicalLeaf(event))).toBe(true);
    expect(canonicalLeaf(event).toString('utf8')).toMatch(/^\{"action":"return\.created","actor":"svc-a",/);
  });

  it('round-trips through JSON text unchanged, so an exported event hashes as logged', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (details) => {
        const exported = JSON.parse(JSON.stringify({ ...event, details })) as LoggedEvent;
        expect(canonicalLeaf(exported).equals(canonicalLeaf({ ...event, details }))).toBe(true);
      }),
    );
  });

  it('changes with any field', () => {
    for (const [key, value] of Object.entries({
      actor: 'svc-b',
      outcome: 'denied',
      occurredAt: '2026-11-26T05:00:00.123457Z',
      details: {},
    })) {
      expect(canonicalLeaf({ ...event, [key]: value }).equals(canonicalLeaf(event))).toBe(false);
    }
  });
});
