import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig } from '../config/app-config';
import type { DatabaseHandle } from '../db/database';
import { type Policies, PolicyError, policyFiles } from '../policies/load-policies';
import type { WebhookSubscription } from '../policies/webhooks-policy';
import { createWebhookDispatcher, type WebhookDispatcher } from './dispatcher';
import { staticTargetProblem, type TargetRules } from './target-guard';
import { resolveWebhookSecrets } from './webhook-secrets';

/** A subscription that could never be delivered under this configuration stops the start. */
export function checkSubscriptionTargets(
  subscriptions: readonly WebhookSubscription[],
  rules: TargetRules,
  policiesDir: string,
): void {
  subscriptions.forEach((subscription, index) => {
    const problem = staticTargetProblem(new URL(subscription.url), rules);
    if (problem) {
      const file = path.join(policiesDir, policyFiles.webhooks.file);
      throw new PolicyError(`policy error: ${file}: subscriptions.${index}.url: ${problem}`);
    }
  });
}

/** Checks the subscriptions, resolves their secrets and starts this instance's dispatcher. */
export async function startWebhooks(deps: {
  config: AppConfig;
  policies: Policies;
  database: DatabaseHandle;
  log: FastifyBaseLogger;
}): Promise<WebhookDispatcher> {
  const { config, policies, log } = deps;
  const rules = {
    allowLoopback: config.webhooks.allowLoopback,
    allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
  };
  checkSubscriptionTargets(policies.webhookSubscriptions, rules, config.policiesDir);
  const secrets = resolveWebhookSecrets(config, policies.webhookSubscriptions);
  if (secrets.generated.length > 0) {
    log.warn(
      `development webhook secrets generated under ${secrets.file} for ${secrets.generated.join(', ')}; set WEBHOOK_SECRETS in production`,
    );
  }
  const dispatcher = createWebhookDispatcher({
    database: deps.database,
    subscriptions: policies.webhookSubscriptions,
    keys: secrets.keys,
    rules,
    log: {
      info: (message) => log.info(message),
      warn: (message) => log.warn(message),
      error: (object, message) => log.error(object, message),
    },
  });
  await dispatcher.start();
  return dispatcher;
}
