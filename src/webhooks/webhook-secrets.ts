import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../config/app-config';
import { ConfigError } from '../config/config';
import type { WebhookSubscription } from '../policies/webhooks-policy';

const secretsFileName = 'webhook-secrets.json';
const secretPrefix = 'whsec_';

export interface ResolvedWebhookSecrets {
  /** Raw key bytes by subscription id. */
  keys: Map<string, Buffer>;
  /** Subscriptions whose secret was generated under DATA_DIR (development only). */
  generated: string[];
  file: string;
}

function decodeSecret(secret: string): Buffer {
  return Buffer.from(secret.slice(secretPrefix.length), 'base64');
}

/**
 * The signing key of every subscription: from WEBHOOK_SECRETS, or in development generated once under
 * DATA_DIR (mode 0600) so receivers keep verifying across restarts. Production refuses to start
 * when a subscription has no configured secret.
 */
export function resolveWebhookSecrets(
  config: Pick<AppConfig, 'nodeEnv' | 'dataDir' | 'webhooks'>,
  subscriptions: readonly WebhookSubscription[],
): ResolvedWebhookSecrets {
  const file = path.join(config.dataDir, secretsFileName);
  const keys = new Map<string, Buffer>();
  const missing: string[] = [];
  for (const subscription of subscriptions) {
    const configured = config.webhooks.secrets[subscription.id];
    if (configured) keys.set(subscription.id, decodeSecret(configured));
    else missing.push(subscription.id);
  }
  if (missing.length === 0) return { keys, generated: [], file };
  if (config.nodeEnv === 'production') {
    throw new ConfigError(
      `invalid configuration: WEBHOOK_SECRETS: no secret for subscription "${missing[0]}" (required when NODE_ENV=production)`,
    );
  }

  mkdirSync(config.dataDir, { recursive: true });
  let stored: Record<string, string> = {};
  if (existsSync(file)) {
    try {
      stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      throw new ConfigError(`invalid configuration: DATA_DIR: ${file} is not readable JSON`);
    }
  }
  let changed = false;
  for (const id of missing) {
    if (typeof stored[id] !== 'string' || !stored[id].startsWith(secretPrefix)) {
      stored[id] = `${secretPrefix}${randomBytes(32).toString('base64')}`;
      changed = true;
    }
    keys.set(id, decodeSecret(stored[id]));
  }
  if (changed) writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { keys, generated: missing, file };
}

/** Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}
