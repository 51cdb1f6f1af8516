import { buildApp } from '../app';
import { startSequencer } from '../audit/sequencer';
import type { AppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import { pendingMigrationCount } from '../db/migrations';
import { loadPolicies } from '../policies/load-policies';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { startRetentionScheduler } from '../retention/retention-scheduler';
import { startRefundOverdueWatcher } from '../returns/refund-overdue';
import { createSigner } from '../signing/signing-key';
import { startWebhooks } from '../webhooks/start-webhooks';

/**
 * The one entry that listens: builds the app, starts listening, and on SIGTERM/SIGINT stops taking
 * connections, lets in-flight requests finish, closes the pool and stops embedded PostgreSQL.
 */
export async function runServer(config: AppConfig): Promise<void> {
  const policies = loadPolicies(config.policiesDir);
  const signer = await createSigner(config.signingKeyPem);
  const database = await connectDatabase(config, { maxConnections: 20 });
  const pending = await pendingMigrationCount(database.sql);
  const app = await buildApp({ config, policies, database, signer });
  if (config.generatedSecrets.length > 0) {
    app.log.warn(
      `development secrets generated under ${config.dataDir}/secrets.json for ${config.generatedSecrets.join(', ')}; set them in the environment for production`,
    );
  }
  if (pending > 0)
    app.log.warn(`${pending} migration(s) pending: run "returnvault migrate"; /ready answers 503 until then`);
  // Positions and signs audit events on whichever instance wins the leader lock; stopped before the pool closes.
  const sequencer = pending === 0 ? startSequencer({ database, signer, log: app.log }) : undefined;
  app.addHook('onClose', async () => {
    await sequencer?.stop();
  });
  // Retention on RETENTION_CRON; every instance schedules it, one runs it (advisory lock + run row).
  const retention =
    pending === 0
      ? startRetentionScheduler(
          { database, policies, pseudonymsOf: createPseudonymKeys(config.pseudonymSecret) },
          config.retentionCron,
          app.log,
        )
      : undefined;
  app.addHook('onClose', async () => {
    await retention?.stop();
  });

  // Announces refunds that became overdue (L221-24) to webhook subscribers, once each.
  const overdueRefunds = startRefundOverdueWatcher(database.db, app.log);
  app.addHook('onClose', async () => overdueRefunds.stop());

  // Delivers outbox events; only one instance (the advisory-lock leader) sends at a time.
  const webhooks =
    pending === 0 ? await startWebhooks({ config, policies, database, log: app.log }) : undefined;
  app.addHook('onClose', async () => {
    await webhooks?.stop();
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info(`${signal} received, closing`);
    const forceExit = setTimeout(() => {
      app.log.error('shutdown timed out, exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forceExit.unref();
    try {
      await app.close();
    } finally {
      await database.close();
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  app.addHook('onClose', async () => {
    app.log.info('http server closed');
  });

  await app.listen({ host: config.host, port: config.port });
  app.log.info(
    `returnvault listening on http://${config.host}:${config.port} (policy version ${policies.version})`,
  );
}
