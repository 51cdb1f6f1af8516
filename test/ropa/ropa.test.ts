import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp, testEnvironment } from '../support/test-app';

function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'src/cli/main.ts', ...args],
      { cwd: process.cwd(), env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('record of processing activities (Art. 30)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });

  it('is generated from policies/: purposes, categories, recipients, retention and security measures', async () => {
    const response = await t.app.inject({ url: '/v1/ropa', headers: bearer(await t.token('dpo')) });
    expect(response.statusCode).toBe(200);
    const ropa = response.json();
    expect(ropa.policyVersion).toBe(t.policies.version);
    expect(ropa.purposes.map((purpose: { id: string }) => purpose.id)).toEqual(
      t.policies.purposes.map((p) => p.id),
    );
    expect(ropa.purposes.find((p: { id: string }) => p.id === 'legal_claim').readableDataStates).toContain(
      'restricted',
    );
    expect(ropa.recipients.map((recipient: { id: string }) => recipient.id)).toEqual(
      t.policies.recipients.map((recipient) => recipient.id),
    );
    const payment = ropa.dataCategories.find((category: { id: string }) => category.id === 'payment');
    expect(payment.retention).toEqual([
      expect.objectContaining({ action: 'erase', after: 'P13M', from: 'refunded' }),
    ]);
    expect(ropa.retention).toHaveLength(t.policies.retention.rules.length);
    expect(ropa.securityMeasures.join(' ')).toContain('AES-256-GCM');
    expect(ropa.controller.name).toBeTruthy();
    expect(ropa.transfersOutsideEea).toBeTruthy();
  });

  it('needs the dsr:manage scope', async () => {
    expect(
      (await t.app.inject({ url: '/v1/ropa', headers: bearer(await t.token('support')) })).statusCode,
    ).toBe(403);
    expect((await t.app.inject({ url: '/v1/ropa' })).statusCode).toBe(401);
  });

  it('is printed by `returnvault ropa`, as text or JSON, and a bad policy file fails with one line', async () => {
    const env = testEnvironment();
    const dir = mkdtempSync(path.join(tmpdir(), 'ropa-policies-'));
    cpSync(path.resolve('policies'), dir, { recursive: true });
    writeFileSync(path.join(dir, 'processing-record.yaml'), 'controller: {}\n');
    // Each CLI start compiles TypeScript: run the three at once.
    const [text, json, broken] = await Promise.all([
      cli(['ropa'], env),
      cli(['ropa', '--json'], env),
      cli(['ropa'], { ...env, POLICIES_DIR: dir }),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Record of processing activities (GDPR Art. 30)');
    expect(text.stdout).toContain('payment-erase: payment erase P13M after refunded');
    expect(JSON.parse(json.stdout)).toEqual(
      (await t.app.inject({ url: '/v1/ropa', headers: bearer(await t.token('dpo')) })).json(),
    );
    expect(broken.code).not.toBe(0);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toContain('processing-record.yaml');
  }, 180_000);
});
