import path from 'node:path';
import type { AppConfig } from '../config/app-config';
import { type DatabaseHandle, type DatabaseOptions, openDatabase } from './database';
import { startEmbeddedPostgres } from './embedded-postgres';

export interface ConnectedDatabase extends DatabaseHandle {
  /** True when this process started an embedded PostgreSQL (no DATABASE_URL). */
  embedded: boolean;
}

/** Uses DATABASE_URL, or starts the embedded PostgreSQL whose data lives under DATA_DIR. */
export async function connectDatabase(
  config: AppConfig,
  options: DatabaseOptions & { log?: (line: string) => void } = {},
): Promise<ConnectedDatabase> {
  if (config.databaseUrl) return { ...openDatabase(config.databaseUrl, options), embedded: false };
  const cluster = await startEmbeddedPostgres(path.join(config.dataDir, 'pg'));
  options.log?.(`embedded PostgreSQL started with data under ${path.join(config.dataDir, 'pg')}`);
  const handle = openDatabase(cluster.url, options);
  return {
    ...handle,
    embedded: true,
    close: async () => {
      await handle.close();
      await cluster.stop();
    },
  };
}
