import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addIsoDuration, parseIsoDuration } from '../../src/policies/iso-duration';
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
  ])('a bad retention.yaml (%s -> %s) stops the start naming the file and the path', (from, to, expected) => {
    const dir = copyOfPolicies();
    const file = path.join(dir, 'retention.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(from);
    writeFileSync(file, text.replace(from, to));
    expect(() => loadPolicies(dir)).toThrow(PolicyError);
    expect(() => loadPolicies(dir)).toThrow(new RegExp(`retention\\.yaml: ${expected.source}`));
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
