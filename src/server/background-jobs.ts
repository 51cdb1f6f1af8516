import type { FastifyBaseLogger } from 'fastify';
import { checkSchemaAndPublishSigningKey } from '../app';
import { startSequencer } from '../audit/sequencer';
import type { AppConfig } from '../config/app-config';
import type { MasterKeyring } from '../crypto/master-keyring';
import type { DatabaseHandle } from '../db/database';
import { pendingMigrationCount } from '../db/migrations';
import type { RotationWorker } from '../keys/rotation-worker';
import type { Policies } from '../policies/load-policies';
import { createPseudonymKeys } from '../pseudonymization/pseudonyms';
import { retentionTimeZone, startRetentionScheduler } from '../retention/retention-scheduler';
import type { Signer } from '../signing/signing-key';
import { encryptLegacyReasons } from '../subject-requests/encrypt-legacy-reasons';
import { startWebhooks } from '../webhooks/start-webhooks';

export interface BackgroundJobDependencies {
  config: AppConfig;
  policies: Policies;
  database: DatabaseHandle;
  signer: Signer;
  /** Encrypts the reasons stored in clear before migration 0034. */
  keyring: MasterKeyring;
  log: FastifyBaseLogger;
  /** The app's: it stops with the app. */
  rotationWorker: RotationWorker;
}

export interface BackgroundJobs {
  /** Stops the wait for the migrations, then every job started, in the order they started. */
  stop(): Promise<void>;
}

/** How often a server started before `returnvault migrate` looks whether the migrations are applied. */
const migrationCheckIntervalMs = 5_000;

type Stop = () => Promise<void>;

/**
 * The jobs that work on the migrated schema; each one's stop goes into `stops` as soon as it runs, so
 * a failure part-way leaves nothing running that cannot be stopped.
 */
async function startMigratedJobs(deps: BackgroundJobDependencies, stops: Stop[]): Promise<void> {
  const { config, policies, database, signer, keyring, log, rotationWorker } = deps;
  const legacy = await encryptLegacyReasons(database.db, keyring);
  if (legacy.encrypted + legacy.dropped + legacy.skipped > 0) {
    log.info(
      `reasons stored in clear before migration 0034: ${legacy.encrypted} encrypted, ${legacy.dropped} not kept (no subject, or erased), ${legacy.skipped} left for an instance with their master key`,
    );
  }
  // Positions and signs audit events on whichever instance wins the leader lock.
  const sequencer = startSequencer({ database, signer, log });
  stops.push(() => sequencer.stop());
  // Retention on RETENTION_CRON; every instance schedules it, one runs it (advisory lock + run row).
  const retention = startRetentionScheduler(
    { database, policies, pseudonymsOf: createPseudonymKeys(config.pseudonymSecret), signer },
    config.retentionCron,
    log,
  );
  stops.push(() => retention.stop());
  log.info(
    `retention scheduled on "${config.retentionCron}" (${retentionTimeZone} time), next run at ${retention.nextRunAt()?.toISOString()}`,
  );
  // Delivers outbox events; only one instance (the advisory-lock leader) sends at a time.
  const webhooks = await startWebhooks({ config, policies, database, log });
  stops.push(() => webhooks.stop());
  // Resumes a key rotation a killed instance left running; one instance (the advisory-lock holder) runs it.
  rotationWorker.kick();
}

/**
 * Starts the audit sequencer, the retention schedule, the webhook dispatcher and the key rotation
 * worker now when no migration is pending. Otherwise their tables may not exist yet: it looks every
 * `migrationCheckIntervalMs` and, once `returnvault migrate` has applied everything, does what buildApp
 * left for then (the full encryption-map check, publishing the signing key the sequencer signs with)
 * and starts them, so they do not wait for a restart. A start that fails then calls
 * `onLateStartFailure` (at boot, the failure is thrown instead).
 */
export async function startBackgroundJobs(
  deps: BackgroundJobDependencies,
  options: { pending: number; onLateStartFailure: (error: unknown) => void },
): Promise<BackgroundJobs> {
  const stops: Stop[] = [];
  const stopStarted = async () => {
    for (const stop of stops.splice(0)) await stop();
  };
  if (options.pending === 0) {
    await startMigratedJobs(deps, stops).catch(async (error) => {
      await stopStarted();
      throw error;
    });
    return { stop: stopStarted };
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let check: Promise<void> = Promise.resolve();
  const scheduleCheck = () => {
    timer = setTimeout(() => {
      check = startOnceMigrated();
    }, migrationCheckIntervalMs);
  };
  const startOnceMigrated = async () => {
    // An unreachable database counts as not migrated yet: /ready reports it, the next check retries.
    const pending = await pendingMigrationCount(deps.database.sql).catch(() => undefined);
    if (stopped) return;
    if (pending !== 0) return scheduleCheck();
    deps.log.info(
      'migrations applied: checking the encryption map, publishing the signing key, then starting the audit sequencer, the retention schedule, the webhook dispatcher and the key rotation worker',
    );
    try {
      await checkSchemaAndPublishSigningKey(deps.database, deps.signer);
      await startMigratedJobs(deps, stops);
    } catch (error) {
      await stopStarted();
      options.onLateStartFailure(error);
    }
  };
  scheduleCheck();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await check;
      await stopStarted();
    },
  };
}
