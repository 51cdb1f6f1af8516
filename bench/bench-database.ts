import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type AppConfig, resolveAppConfig } from '../src/config/app-config';
import { type DatabaseHandle, openDatabase } from '../src/db/database';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';

/** The benchmarks' database: BENCH_DATABASE_URL when set, else a throw-away embedded PostgreSQL. */
export async function openBenchDatabase(
  maxConnections: number,
): Promise<{ handle: DatabaseHandle; stop(): Promise<void> }> {
  if (process.env.BENCH_DATABASE_URL) {
    const handle = openDatabase(process.env.BENCH_DATABASE_URL, { maxConnections });
    return { handle, stop: () => handle.close() };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'returnvault-bench-'));
  const cluster = await startEmbeddedPostgres(dir, { persistent: false });
  const handle = openDatabase(cluster.url, { maxConnections });
  return {
    handle,
    stop: async () => {
      await handle.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fresh secrets as environment variables, as a throw-away benchmark run needs. */
export function benchSecrets(): Record<string, string> {
  return {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEYS: `v1:${randomBytes(32).toString('base64')}`,
    PSEUDONYM_SECRET: randomBytes(32).toString('base64'),
    SIGNING_KEY: generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString(),
  };
}

/** A configuration with fresh secrets. */
export function benchConfig(): AppConfig {
  return resolveAppConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', ...benchSecrets() });
}
