import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
