import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAppConfig } from '../../src/config/app-config';
import { loadPolicies } from '../../src/policies/load-policies';
import { checkSubscriptionTargets } from '../../src/webhooks/start-webhooks';
import { resolveWebhookSecrets } from '../../src/webhooks/webhook-secrets';
import { testEnvironment } from '../support/test-app';
import { newSecret, subscriptions } from './webhook-fixtures';

function policiesWith(webhooksYaml: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'returnvault-webhooks-'));
  cpSync('policies', dir, { recursive: true });
  writeFileSync(path.join(dir, 'webhooks.yaml'), webhooksYaml);
  return dir;
}

describe('webhook subscriptions and secrets', () => {
  it('ships a default policy file that loads with no subscription', () => {
    expect(loadPolicies('policies').webhookSubscriptions).toEqual([]);
  });

  it.each([
    [
      'subscriptions:\n  - id: a\n    url: ftp://x.example/h\n    events: [return.created]\n',
      'subscriptions.0.url',
    ],
    [
      'subscriptions:\n  - id: a\n    url: https://x.example/h\n    events: [return.lost]\n',
      'subscriptions.0.events.0',
    ],
    [
      'subscriptions:\n  - id: a\n    url: https://x.example/h\n    merchantId: m1\n    recipientId: r1\n    events: [return.erased]\n',
      'subscriptions.0.recipientId',
    ],
    [
      'subscriptions:\n  - id: a\n    url: https://x.example/h\n    events: [return.created]\n    timeoutMs: 600000\n',
      'subscriptions.0.timeoutMs',
    ],
  ])('stops the start on a bad file, naming the file and the path', (yaml, where) => {
    const dir = policiesWith(yaml);
    expect(() => loadPolicies(dir)).toThrow(`${path.join(dir, 'webhooks.yaml')}: ${where}`);
  });

  it('stops the start on a plain-http target when loopback is not allowed', () => {
    const subs = subscriptions([
      { id: 'ok', url: 'https://shop.example/h', events: ['return.created'] },
      { id: 'dev', url: 'http://127.0.0.1:9000/h', events: ['return.created'] },
    ]);
    expect(() =>
      checkSubscriptionTargets(subs, { allowLoopback: true, allowPrivateNetworks: false }, '/p'),
    ).not.toThrow();
    expect(() =>
      checkSubscriptionTargets(subs, { allowLoopback: false, allowPrivateNetworks: false }, '/p'),
    ).toThrow('/p/webhooks.yaml: subscriptions.1.url: only https targets are allowed');
  });

  it('reads WEBHOOK_SECRETS and refuses a malformed one naming the variable', () => {
    const { secret, key } = newSecret();
    const config = resolveAppConfig(testEnvironment({ WEBHOOK_SECRETS: `shop:${secret}` }));
    const subs = subscriptions([{ id: 'shop', url: 'https://shop.example/h', events: ['return.created'] }]);
    expect(resolveWebhookSecrets(config, subs).keys.get('shop')).toEqual(key);
    for (const bad of ['shop', 'shop:secret', 'shop:whsec_c2hvcnQ=', `shop:${secret},shop:${secret}`]) {
      expect(() => resolveAppConfig(testEnvironment({ WEBHOOK_SECRETS: bad }))).toThrow(
        /^invalid configuration: WEBHOOK_SECRETS(\.\d+)?: /,
      );
    }
    expect(() => resolveAppConfig(testEnvironment({ WEBHOOK_ALLOW_LOOPBACK: 'yes' }))).toThrow(
      /WEBHOOK_ALLOW_LOOPBACK/,
    );
  });

  it('generates missing secrets under DATA_DIR (0600, stable) in development, refuses in production', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'returnvault-data-'));
    const subs = subscriptions([{ id: 'shop', url: 'https://shop.example/h', events: ['return.created'] }]);
    const config = resolveAppConfig(testEnvironment({ NODE_ENV: 'development', DATA_DIR: dataDir }));
    expect(config.webhooks.allowLoopback).toBe(true);
    const first = resolveWebhookSecrets(config, subs);
    expect(first.generated).toEqual(['shop']);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(first.file, 'utf8')).shop).toMatch(/^whsec_/);
    expect(resolveWebhookSecrets(config, subs).keys.get('shop')).toEqual(first.keys.get('shop'));

    const production = resolveAppConfig(testEnvironment({ NODE_ENV: 'production', DATA_DIR: dataDir }));
    expect(production.webhooks.allowLoopback).toBe(false);
    expect(() => resolveWebhookSecrets(production, subs)).toThrow(
      /WEBHOOK_SECRETS: no secret for subscription "shop"/,
    );
  });
});
