import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicies, PolicyError } from '../../src/policies/load-policies';

function policiesWith(edit: (text: string) => string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rv-recipients-'));
  cpSync(path.resolve('policies'), dir, { recursive: true });
  const file = path.join(dir, 'recipients.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return dir;
}

describe('recipients policy', () => {
  it('loads the shipped recipients with their allowlists and generalisation', () => {
    const { recipients } = loadPolicies(path.resolve('policies'));
    const analytics = recipients.find((r) => r.id === 'analytics')!;
    expect(analytics.generalisation).toEqual({ place: 'postal_area', dates: 'week' });
    expect(analytics.fields).toContain('subject');
    const warehouse = recipients.find((r) => r.id === 'warehouse')!;
    expect(warehouse.generalisation.place).toBe('country');
    expect(warehouse.fields).not.toContain('postalArea');
  });

  it.each([
    [
      'an unknown field',
      (t: string) => t.replace('fields: [orderRef,', 'fields: [email, orderRef,'),
      /fields\.0/,
    ],
    [
      'a postal area for a country-only recipient',
      (t: string) => t.replace('fields: [orderRef,', 'fields: [postalArea, orderRef,'),
      /recipients\.1\.fields: postalArea contradicts/,
    ],
    [
      'a bad date generalisation',
      (t: string) => t.replace('dates: day', 'dates: hour'),
      /generalisation\.dates/,
    ],
    [
      'a duplicate id',
      (t: string) => t.replace('id: warehouse', 'id: analytics'),
      /recipient ids must be unique/,
    ],
    ['a rate limit of zero', (t: string) => t.replace('max: 1200', 'max: 0'), /rateLimit\.max/],
  ])('refuses %s, naming the file and the path', (_name, edit, expected) => {
    const dir = policiesWith(edit);
    expect(() => loadPolicies(dir)).toThrow(PolicyError);
    expect(() => loadPolicies(dir)).toThrow(expected);
  });
});
