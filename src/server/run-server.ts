import { buildApp } from '../app';
import type { AppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import { pendingMigrationCount } from '../db/migrations';
import { loadPolicies } from '../policies/load-policies';
import { startRefundOverdueWatcher } from '../returns/refund-overdue';
import { createSigner } from '../signing/signing-key';
import { startBackgroundJobs } from './background-jobs';

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

  let closing = false;
  const shutdown = async (reason: string, exitCode = 0) => {
    if (closing) return;
    closing = true;
    app.log.info(`${reason}, closing`);
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
    process.exit(exitCode);
  };

  if (pending > 0) {
    app.log.warn(
      `${pending} migration(s) pending: run "returnvault migrate"; until then /ready answers 503 and the audit sequencer, retention, webhooks and key rotation wait`,
    );
  }
  // Stopped before the pool closes.
  const jobs = await startBackgroundJobs(
    {
      config,
      policies,
      database,
      signer,
      keyring: app.keyring,
      log: app.log,
      rotationWorker: app.rotationWorker,
    },
    {
      pending,
      // What would have stopped the start had the migrations been applied at boot stops the process.
      onLateStartFailure: (error) => {
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        app.log.error(
          { code: (error as { code?: unknown }).code },
          `background jobs could not start: ${reason}`,
        );
        void shutdown('background jobs failed', 1);
      },
    },
  );
  app.addHook('onClose', async () => {
    await jobs.stop();
  });

  // Announces refunds that became overdue (L221-24) to webhook subscribers, once each.
  const overdueRefunds = startRefundOverdueWatcher(database.db, app.log);
  app.addHook('onClose', async () => overdueRefunds.stop());

  process.once('SIGTERM', () => void shutdown('SIGTERM received'));
  process.once('SIGINT', () => void shutdown('SIGINT received'));
  app.addHook('onClose', async () => {
    app.log.info('http server closed');
  });

  await app.listen({ host: config.host, port: config.port });
  app.log.info(
    `returnvault listening on http://${config.host}:${config.port} (policy version ${policies.version})`,
  );
}
