import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addIsoDuration, holdsOnEveryReferenceDate, parseIsoDuration } from '../../src/policies/iso-duration';
import { loadPolicies, PolicyError } from '../../src/policies/load-policies';

function copyOfPolicies() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rv-retention-policies-'));
  cpSync(path.resolve('policies'), dir, { recursive: true });
  return dir;
}

describe('retention policy file', () => {
  it('ships the DOMAIN.md defaults', () => {
    const rules = loadPolicies(path.resolve('policies')).retention.rules;
    const summary = rules.map((rule) => [rule.dataClass, rule.startEvent, rule.duration.iso, rule.action]);
    expect(summary).toEqual([
      ['contact', 'return_closed', 'P3M', 'archive'],
      ['contact', 'return_closed', 'P5Y', 'erase'],
      ['proof', 'return_closed', 'P3M', 'archive'],
      ['proof', 'return_closed', 'P5Y', 'erase'],
      ['payment', 'refunded', 'P13M', 'erase'],
      ['accounting', 'refunded', 'P10Y', 'delete'],
      ['requests', 'request_completed', 'P5Y', 'delete'],
      ['audit', 'event_recorded', 'P6Y', 'delete'],
    ]);
    expect(rules.every((rule) => rule.legalBasis.length > 0)).toBe(true);
  });

  it.each([
    ['duration: P13M', 'duration: 13 months', /rules\.4\.duration: expected an ISO 8601 duration/],
    ['duration: P13M', 'duration: P1.5Y', /rules\.4\.duration: expected an ISO 8601 duration/],
    ['duration: P13M', 'duration: PT', /rules\.4\.duration: expected an ISO 8601 duration/],
    ['duration: P13M', 'duration: P', /rules\.4\.duration: expected an ISO 8601 duration/],
    [
      'duration: P5Y\n    action: erase',
      'duration: P2M\n    action: erase',
      /rules\.1\.duration: must be longer than the archive period/,
    ],
    [
      'startEvent: refunded\n    duration: P13M',
      'startEvent: return_closed\n    duration: P13M',
      /rules\.4\.startEvent: payment data is retained from refunded/,
    ],
    [
      'duration: P13M\n    action: erase',
      'duration: P13M\n    action: archive',
      /rules\.4\.action: payment data allows erase/,
    ],
    ['action: archive', 'action: shred', /rules\.0\.action:/],
    [
      'id: proof-erase\n    dataClass: proof\n    startEvent: return_closed\n    duration: P5Y',
      'id: proof-erase\n    dataClass: proof\n    startEvent: return_closed\n    duration: P6Y',
      /rules\.3\.duration: proof is erased with contact data/,
    ],
    ['id: contact-erase', 'id: contact-archive', /rules\.1\.id: rule ids must be unique/],
    ['dataClass: audit', 'dataClass: telemetry', /rules\.7\.dataClass:/],
    // Past the range of dates: NaN in JavaScript, "timestamp out of range" in PostgreSQL at run time.
    [
      'duration: P13M',
      'duration: P300000Y',
      /rules\.4\.duration: P300000Y is longer than 100 years: a retention period may be at most P100Y/,
    ],
    ['duration: P13M', 'duration: PT900000H', /rules\.4\.duration: PT900000H is longer than 100 years/],
    // From 31 May, P3M is 92 days: the erasure would come before the archiving.
    [
      'duration: P5Y\n    action: erase',
      'duration: P91D\n    action: erase',
      /rules\.1\.duration: must be longer than the archive period of contact \(P3M\)/,
    ],
    // From 31 January 2024 P3M is 90 days, from 31 March 91: not the contact archive period.
    [
      'id: proof-archive\n    dataClass: proof\n    startEvent: return_closed\n    duration: P3M',
      'id: proof-archive\n    dataClass: proof\n    startEvent: return_closed\n    duration: P90D',
      /rules\.2\.duration: proof is archived with contact data: needs a contact archive rule of the same duration on every calendar date/,
    ],
    [
      'legalBasis: Code monetaire et financier L133-24 (13-month dispute window)',
      "legalBasis: '   '",
      /rules\.4\.legalBasis: must not be empty or blank/,
    ],
    [
      'description: the refund IBAN is crypto-shredded',
      "description: '\t '",
      /rules\.4\.description: must not be empty or blank/,
    ],
  ])('a bad retention.yaml (%s -> %s) stops the start naming the file and the path', (from, to, expected) => {
    const dir = copyOfPolicies();
    const file = path.join(dir, 'retention.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(from);
    writeFileSync(file, text.replace(from, to));
    expect(() => loadPolicies(dir)).toThrow(PolicyError);
    expect(() => loadPolicies(dir)).toThrow(new RegExp(`retention\\.yaml: ${expected.source}`));
  });

  describe('an accounting delete, which erases contact and payment data before the row goes', () => {
    /** The shipped file with these rule durations (rule id to ISO 8601 duration) in place. */
    function loadWithDurations(durations: Record<string, string>) {
      const dir = copyOfPolicies();
      const file = path.join(dir, 'retention.yaml');
      let text = readFileSync(file, 'utf8');
      for (const [id, duration] of Object.entries(durations)) {
        const rule = new RegExp(`(id: ${id}\\n(?:    .*\\n)*?    duration: )\\S+`);
        expect(text).toMatch(rule);
        text = text.replace(rule, `$1${duration}`);
      }
      writeFileSync(file, text);
      return () => loadPolicies(dir);
    }
    // Contact erased after 6 months, so that only the payment period is in the way.
    const shortContact = { 'contact-erase': 'P6M', 'proof-erase': 'P6M' };

    it('is refused when it would erase the IBAN inside its dispute window', () => {
      const load = loadWithDurations({ ...shortContact, 'accounting-delete': 'P1Y' });
      expect(load).toThrow(
        /retention\.yaml: rules\.5\.duration: must not end before payment-erase \(P13M\): deleting a return erases its IBAN, and both periods run from the refund/,
      );
    });

    it('is refused when it ends before the payment period on some dates only', () => {
      // P396D is longer than P13M from 31 January 2024 (394 days), shorter from 1 March 2024 (397).
      expect(loadWithDurations({ ...shortContact, 'accounting-delete': 'P396D' })).toThrow(
        /rules\.5\.duration: must not end before payment-erase \(P13M\)/,
      );
    });

    it('is refused when it would erase contact data before their erasure period ends', () => {
      expect(loadWithDurations({ 'accounting-delete': 'P4Y' })).toThrow(
        /retention\.yaml: rules\.5\.duration: must not end before contact-erase \(P5Y\): deleting a return erases its contact data, and for a return that ended without a refund both periods run from its end/,
      );
    });

    it('is accepted when it ends with the payment and contact erasures', () => {
      const policies = loadWithDurations({
        'contact-erase': 'P13M',
        'proof-erase': 'P13M',
        'accounting-delete': 'P1Y1M',
      })();
      const accounting = policies.retention.rules.find((rule) => rule.id === 'accounting-delete');
      expect(accounting?.duration.iso).toBe('P1Y1M');
    });
  });

  it('stops the start when retention.yaml has no rule or is missing', () => {
    const dir = copyOfPolicies();
    const file = path.join(dir, 'retention.yaml');
    writeFileSync(file, 'rules: []\n');
    expect(() => loadPolicies(dir)).toThrow(/retention\.yaml: rules:/);
    rmSync(file);
    expect(() => loadPolicies(dir)).toThrow(/retention\.yaml: file is missing/);
  });
});

describe('ISO 8601 durations', () => {
  it.each([
    ['P3M', { months: 3 }],
    ['P5Y', { years: 5 }],
    ['P1Y6M2W3DT4H5M6S', { years: 1, months: 6, weeks: 2, days: 3, hours: 4, minutes: 5, seconds: 6 }],
    ['PT36H', { hours: 36 }],
  ])('parses %s', (text, expected) => {
    expect(parseIsoDuration(text)).toEqual({
      years: 0,
      months: 0,
      weeks: 0,
      days: 0,
      hours: 0,
      minutes: 0,
      seconds: 0,
      ...expected,
    });
  });

  it.each(['', 'P', 'PT', 'P1DT', '3M', 'P-3M', 'P1.5Y', 'P1M1Y', 'p3m', 'P3M ', 'P99999999999999999Y'])(
    'refuses %j',
    (text) => {
      expect(parseIsoDuration(text)).toBeUndefined();
    },
  );

  it('orders durations only when the order holds from every reference date', () => {
    const holds = (relation: (a: number, b: number) => boolean, a: string, b: string) =>
      holdsOnEveryReferenceDate((endOf) =>
        relation(endOf(parseIsoDuration(a)!), endOf(parseIsoDuration(b)!)),
      );
    expect(holds((a, b) => a === b, 'P12M', 'P1Y')).toBe(true);
    expect(holds((a, b) => a > b, 'P93D', 'P3M')).toBe(true);
    // Equal from 31 January 2024, longer or shorter from other dates.
    expect(holds((a, b) => a === b, 'P90D', 'P3M')).toBe(false);
    expect(holds((a, b) => a >= b, 'P90D', 'P3M')).toBe(false);
    expect(holds((a, b) => a <= b, 'P90D', 'P3M')).toBe(false);
    // Past the range of dates the end is NaN, and no comparison holds.
    expect(holds((a, b) => a <= b, 'P300000Y', 'P100Y')).toBe(false);
  });

  it('adds months the calendar way, clamping to the end of the month', () => {
    const add = (start: string, iso: string) =>
      addIsoDuration(new Date(start), parseIsoDuration(iso)!).toISOString();
    expect(add('2026-11-30T10:00:00Z', 'P3M')).toBe('2027-02-28T10:00:00.000Z');
    expect(add('2027-11-30T10:00:00Z', 'P3M')).toBe('2028-02-29T10:00:00.000Z');
    expect(add('2024-02-29T00:00:00Z', 'P1Y')).toBe('2025-02-28T00:00:00.000Z');
    expect(add('2026-01-31T00:00:00Z', 'P13M')).toBe('2027-02-28T00:00:00.000Z');
    expect(add('2026-03-01T00:00:00Z', 'P1W2DT1H')).toBe('2026-03-10T01:00:00.000Z');
  });

  it('round-trips every well-formed duration and never moves a date backwards', () => {
    const part = fc.option(fc.integer({ min: 0, max: 500 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({ y: part, mo: part, w: part, d: part, h: part, mi: part, s: part }),
        fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
        ({ y, mo, w, d, h, mi, s }, start) => {
          const date = [y && `${y}Y`, mo && `${mo}M`, w && `${w}W`, d && `${d}D`].filter(Boolean).join('');
          const time = [h && `${h}H`, mi && `${mi}M`, s && `${s}S`].filter(Boolean).join('');
          const text = `P${date}${time ? `T${time}` : ''}`;
          const parsed = parseIsoDuration(text);
          if (text === 'P') return expect(parsed).toBeUndefined();
          expect(parsed).toEqual({
            years: y ?? 0,
            months: mo ?? 0,
            weeks: w ?? 0,
            days: d ?? 0,
            hours: h ?? 0,
            minutes: mi ?? 0,
            seconds: s ?? 0,
          });
          expect(addIsoDuration(start, parsed!).getTime()).toBeGreaterThanOrEqual(start.getTime());
        },
      ),
    );
  });
});
