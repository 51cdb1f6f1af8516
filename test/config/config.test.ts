import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { resolveAppConfig } from '../../src/config/app-config';
import { ConfigError } from '../../src/config/config';
import { testEnvironment } from '../support/test-app';

const run = promisify(execFile);

describe('configuration', () => {
  it.each([
    ['JWT_SECRET', 'too-short'],
    ['MASTER_KEYS', 'v1:bm90LTMyLWJ5dGVz'],
    ['MASTER_KEYS', 'nonsense'],
    ['BLIND_INDEX_KEYS', 'v1:abc,v1:abc'],
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '1e3'],
    ['PORT', '80.5'],
    ['REQUEST_TIMEOUT_MS', '0x50'],
    ['LOG_LEVEL', 'loud'],
    ['RETENTION_CRON', 'every day'],
    ['DATABASE_URL', 'mysql://x'],
    ['SIGNING_KEY', 'not a key'],
    ['JWT_JWKS_URL', 'ftp://idp/jwks'],
  ])('refuses a bad %s with one line naming it', (name, value) => {
    expect(() => resolveAppConfig(testEnvironment({ [name]: value }))).toThrow(ConfigError);
    try {
      resolveAppConfig(testEnvironment({ [name]: value }));
    } catch (error) {
      const message = (error as Error).message;
      expect(message.startsWith(`invalid configuration: ${name}:`)).toBe(true);
      expect(message).not.toContain('\n');
    }
  });

  it('reads an empty number variable as unset, not as 0', () => {
    const config = resolveAppConfig(testEnvironment({ PORT: '', BODY_LIMIT_BYTES: ' ' }));
    expect(config.port).toBe(3000);
    expect(config.bodyLimitBytes).toBe(256 * 1024);
    expect(resolveAppConfig(testEnvironment({ PORT: '0' })).port).toBe(0);
  });

  it('refuses to start in production without keys, naming the first missing variable', () => {
    expect(() =>
      resolveAppConfig({ NODE_ENV: 'production', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'rv-')) }),
    ).toThrow(/^invalid configuration: JWT_SECRET: required when NODE_ENV=production$/);
  });

  it('generates development secrets once under DATA_DIR with mode 0600 and finds them again', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'rv-'));
    const first = resolveAppConfig({ DATA_DIR: dataDir });
    expect(first.generatedSecrets).toEqual([
      'JWT_SECRET',
      'MASTER_KEYS',
      'BLIND_INDEX_KEYS',
      'PSEUDONYM_SECRET',
      'SIGNING_KEY',
    ]);
    expect(statSync(path.join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);
    const second = resolveAppConfig({ DATA_DIR: dataDir });
    expect(second.jwt.secret).toBe(first.jwt.secret);
    expect(second.masterKeys[0]!.key.equals(first.masterKeys[0]!.key)).toBe(true);
  });

  it.each(['MASTER_KEYS', 'BLIND_INDEX_KEYS'])(
    'refuses a corrupt %s in the development secrets.json with one line naming it',
    (name) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'rv-'));
      resolveAppConfig({ DATA_DIR: dataDir });
      const file = path.join(dataDir, 'secrets.json');
      const secrets = JSON.parse(readFileSync(file, 'utf8'));
      // An edit that cut the key short: what is left of it must not reach the message.
      secrets[name] = secrets[name].slice(0, 20);
      writeFileSync(file, JSON.stringify(secrets));
      expect(() => resolveAppConfig({ DATA_DIR: dataDir })).toThrow(ConfigError);
      try {
        resolveAppConfig({ DATA_DIR: dataDir });
      } catch (error) {
        const message = (error as Error).message;
        expect(message).toBe(
          `invalid configuration: ${name}: entry 1 is not "v<N>:<base64 of 32 bytes>" (in ${file})`,
        );
        expect(message).not.toContain(secrets[name].slice(3));
      }
    },
  );

  it('makes the last MASTER_KEYS entry the active one', () => {
    const config = resolveAppConfig(
      testEnvironment({
        MASTER_KEYS: `v1:${Buffer.alloc(32, 1).toString('base64')},v2:${Buffer.alloc(32, 2).toString('base64')}`,
      }),
    );
    expect(config.masterKeys.map((k) => k.version)).toEqual(['v1', 'v2']);
  });

  it('the CLI stops with one line and a non-zero exit, without a stack trace', async () => {
    const error = await run('npx', ['tsx', 'src/cli/main.ts', 'token', '--role', 'dpo'], {
      env: { ...process.env, JWT_SECRET: 'short' },
    }).catch((failure: { code: number; stderr: string }) => failure);
    expect((error as { code: number }).code).toBe(1);
    const stderr = (error as { stderr: string }).stderr.trim();
    expect(stderr).toBe('invalid configuration: JWT_SECRET: must be at least 32 bytes');
  });
});
