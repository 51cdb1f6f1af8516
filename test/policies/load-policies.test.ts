import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicies, PolicyError } from '../../src/policies/load-policies';

function copyOfPolicies() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rv-policies-'));
  cpSync(path.resolve('policies'), dir, { recursive: true });
  return dir;
}

describe('policies', () => {
  it('loads the shipped policies with a content-hash version', () => {
    const policies = loadPolicies(path.resolve('policies'));
    expect(policies.version).toMatch(/^[0-9a-f]{16}$/);
    expect(policies.purposes.map((p) => p.id)).toEqual(
      expect.arrayContaining(['customer_support', 'refund_processing', 'fraud_investigation', 'legal_claim']),
    );
    expect(policies.returnRules.withdrawal.days).toBe(14);
  });

  it('changes the version when a file changes', () => {
    const dir = copyOfPolicies();
    const before = loadPolicies(dir).version;
    const file = path.join(dir, 'return-rules.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('days: 14', 'days: 30'));
    expect(loadPolicies(dir).version).not.toBe(before);
  });

  it.each([
    [
      'return-rules.yaml',
      (text: string) => text.replace('days: 14', 'days: 7'),
      /return-rules\.yaml: withdrawal\.days: the legal minimum is 14 days/,
    ],
    // A policy may be kinder to the customer than the law, never less kind.
    [
      'return-rules.yaml',
      (text: string) => text.replace('returnDays: 14', 'returnDays: 7'),
      /return-rules\.yaml: returnDays: the customer has at least 14 days/,
    ],
    [
      'return-rules.yaml',
      (text: string) => text.replace('refundDays: 14', 'refundDays: 30'),
      /return-rules\.yaml: refundDays: the merchant has at most 14 days/,
    ],
    [
      'return-rules.yaml',
      (text: string) =>
        text.replace('missingInformationExtensionMonths: 12', 'missingInformationExtensionMonths: 1'),
      /return-rules\.yaml: withdrawal\.missingInformationExtensionMonths: the legal extension is 12 months/,
    ],
    [
      'return-rules.yaml',
      (text: string) => text.replace('extendToWorkingDay: true', 'extendToWorkingDay: false'),
      /return-rules\.yaml: withdrawal\.extendToWorkingDay: L221-19/,
    ],
    [
      'purposes.yaml',
      (text: string) => text.replace('allowedStates: [active]', 'allowedStates: [everything]'),
      /purposes\.yaml: purposes\.0\.allowedStates\.0:/,
    ],
    ['purposes.yaml', (text: string) => `${text}\n  - : [\n`, /purposes\.yaml: line \d+ not valid YAML/],
    [
      'return-rules.yaml',
      (text: string) => text.replace('maxDimensionsMm: [260, 260, 340]', 'maxDimensionsMm: [260, 260]'),
      /return-rules\.yaml: letterbox\.maxDimensionsMm/,
    ],
  ])('refuses a bad %s naming the file and the path inside it', (file, edit, expected) => {
    const dir = copyOfPolicies();
    const full = path.join(dir, file);
    writeFileSync(full, edit(readFileSync(full, 'utf8')));
    expect(() => loadPolicies(dir)).toThrow(PolicyError);
    expect(() => loadPolicies(dir)).toThrow(expected);
  });
});
