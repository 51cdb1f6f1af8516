import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditBundle } from '../../src/audit/audit-bundle';
import { recordAuditEvent } from '../../src/audit/record-audit-event';
import { runSequencerOnce } from '../../src/audit/sequencer';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: process.cwd() }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('returnvault audit verify', () => {
  let t: TestApp;
  let dir: string;
  let bundle: AuditBundle;
  const file = (name: string, content: unknown) => {
    const target = path.join(dir, name);
    writeFileSync(target, JSON.stringify(content));
    return target;
  };

  beforeAll(async () => {
    t = await createTestApp();
    dir = mkdtempSync(path.join(tmpdir(), 'returnvault-audit-'));
    const auditor = bearer(await t.token('auditor'));
    for (let i = 0; i < 6; i++) {
      await recordAuditEvent(
        t.database.db,
        {},
        { action: 'test.cli', outcome: 'success', targetId: `ret-${i}` },
      );
    }
    await runSequencerOnce(t.database, t.app.signer);
    file('kept.json', (await t.app.inject({ url: '/v1/audit/checkpoint', headers: auditor })).json());
    await recordAuditEvent(t.database.db, {}, { action: 'test.cli', outcome: 'success' });
    await runSequencerOnce(t.database, t.app.signer);
    bundle = (await t.app.inject({ url: '/v1/audit/export?since=6', headers: auditor })).json();
    file('jwks.json', (await t.app.inject({ url: '/.well-known/jwks.json' })).json());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `audit verify` of a bundle written as `name`, against the service's published keys. */
  const verifyPinned = (name: string, content: unknown, ...extra: string[]) =>
    cli('audit', 'verify', file(name, content), '--jwks', path.join(dir, 'jwks.json'), ...extra);

  it('prints a short OK summary and exits 0 for an untouched bundle', async () => {
    const run = await verifyPinned('good.json', bundle, '--since', path.join(dir, 'kept.json'));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 7 event\(s\) at positions 0\.\.6 match the checkpoint of tree size 7/);
    expect(run.stdout).toContain('extends the kept checkpoint of tree size 6');
    expect(run.stdout).toContain('the service signed that it exported the whole log, positions 0 to 7');
    expect(run.stderr).toBe('');
  }, 120_000);

  it('warns that a bundle of the format before export statements has an unsigned range', async () => {
    const signedAt = '2026-11-20T10:00:00.000Z';
    const older = structuredClone(bundle);
    older.format = 'returnvault-audit-bundle/1' as AuditBundle['format'];
    delete older.exportStatement;
    delete older.consistency;
    const { log, treeSize, rootHash } = { log: 'returnvault-audit', ...bundle.checkpoint };
    older.checkpoint = {
      ...older.checkpoint,
      signedAt,
      jws: await t.app.signer.sign({ log, treeSize, rootHash, signedAt }, 'returnvault-audit-checkpoint+jws'),
    };
    const run = await verifyPinned('format-one.json', older);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: 7 event\(s\)/);
    expect(run.stdout).not.toContain('the service signed that it exported');
    expect(run.stderr).toMatch(
      /^WARNING: a bundle of the format before export statements: nothing signs its range/,
    );
  }, 120_000);

  it('warns when the keys are the ones inside the bundle, which anyone could have put there', async () => {
    const run = await cli('audit', 'verify', file('unpinned.json', bundle));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^OK: /);
    expect(run.stderr).toMatch(/^WARNING: the signature was checked against the keys inside the bundle/);
  }, 120_000);

  it('exits non-zero with one line naming the first bad position of an edited bundle', async () => {
    const tampered = structuredClone(bundle);
    (tampered.events[3] as AuditBundle['events'][number]).event.outcome = 'failure';
    const run = await verifyPinned('tampered.json', tampered);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      'returnvault: position 3: the event differs from the one logged (edited)',
    ]);
  }, 120_000);

  it('exits non-zero on a bad signature and on a file that is not a bundle', async () => {
    const forged = structuredClone(bundle);
    forged.checkpoint.jws = forged.checkpoint.jws.replace(/.{4}$/, 'AAAA');
    const signature = await cli('audit', 'verify', file('forged.json', forged));
    expect(signature.code).toBe(1);
    expect(signature.stderr).toContain('signature does not verify');
    const missing = await cli('audit', 'verify', path.join(dir, 'nowhere.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);
});
