import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
  /** CPU time the process has used so far, user and system, in seconds. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/**
 * CPU time of a process from /proc/<pid>/stat, in seconds (0 once it is gone): its own (utime, stime)
 * and, with `reaped`, that of its children that ended (cutime, cstime).
 */
function processCpuSeconds(pid: number, reaped = false): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14
  // and 15, cutime and cstime 16 and 17.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const own = fields[11]! + fields[12]!;
  return (reaped ? own + fields[13]! + fields[14]! : own) / ticksPerSecond;
}

/**
 * CPU time used so far by the PostgreSQL processes on the machine (the benchmark's cluster): the live
 * ones, and the backends that ended (an idle pool connection closes after 30 s), which the postmaster
 * reaped and counts as its children's time.
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') {
        total += processCpuSeconds(Number(entry), true);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
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
    cpuSeconds: () => processCpuSeconds(child.pid!),
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
