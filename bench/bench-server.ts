import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import type { AppConfig } from '../src/config/app-config';
import type { DatabaseHandle } from '../src/db/database';
import type { Policies } from '../src/policies/load-policies';
import { createSigner } from '../src/signing/signing-key';

/** A server in its own process, measured from outside like a deployment would be. */
export interface BenchServer {
  baseUrl: string;
  /** The peak resident memory the kernel reports for the process (VmHWM). */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/**
 * Starts `node <nodeArgs>` on a random port and waits until `readyPath` answers below 500.
 * With BENCH_CPU_PROF_DIR set, each server writes a V8 CPU profile there when it stops.
 */
export async function startServerProcess(
  nodeArgs: string[],
  env: NodeJS.ProcessEnv,
  readyPath: string,
): Promise<BenchServer> {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const profiling = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profiling, ...nodeArgs], {
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const ready = await fetch(`${baseUrl}${readyPath}`).catch(() => undefined);
    if (ready && ready.status < 500) break;
    if (attempt > 300 || child.exitCode !== null)
      throw new Error(`${nodeArgs.join(' ')} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    baseUrl,
    peakRssMb: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The service as `npm start` runs it (package.json): the bundle `npm run build` writes, with the same
 * heap limit, served once /ready says so.
 */
export function startBundledService(env: NodeJS.ProcessEnv): Promise<BenchServer> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  return startServerProcess(['--max-old-space-size=1024', 'dist/returnvault.mjs', 'serve'], env, '/ready');
}

/** The real app in this process, listening on a free port (benchmarks that also drive its jobs). */
export async function listenInProcess(
  config: AppConfig,
  policies: Policies,
  database: DatabaseHandle,
): Promise<{ app: FastifyInstance; baseUrl: string }> {
  const app = await buildApp({
    config,
    policies,
    database,
    signer: await createSigner(config.signingKeyPem),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}
