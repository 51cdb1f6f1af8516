import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveAppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import { applyMigrations } from '../db/migrations';
import { loadPolicies } from '../policies/load-policies';
import { seedReturns } from './seed-returns';

function countOption(max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    }
    return parsed;
  };
}

/** A bar on a terminal; a line every 10 % otherwise, so pipes and CI logs see progress too. */
function progressReporter(total: number): { onProgress: (done: number) => void; stop(): void } {
  if (!process.stderr.isTTY) {
    let reported = 0;
    return {
      onProgress: (done) => {
        if (done - reported >= total / 10 || done === total) {
          reported = done;
          process.stderr.write(`seeded ${done}/${total} returns\n`);
        }
      },
      stop: () => {},
    };
  }
  const bar = new SingleBar({
    format: 'seeding returns [{bar}] {value}/{total} | {eta_formatted} left',
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(total, 0);
  return { onProgress: (done) => bar.update(done), stop: () => bar.stop() };
}

/** `returnvault seed --returns N`: synthetic returns through the real encryption, for demos and benchmarks. */
export function registerSeedCommand(program: Command): void {
  program
    .command('seed')
    .description('write N synthetic returns (encrypted like real ones) for demos and benchmarks')
    .requiredOption('--returns <n>', 'number of returns', countOption(100_000_000))
    .option('--batch-size <n>', 'returns per transaction', countOption(1000), 1000)
    .action(async (options: { returns: number; batchSize: number }) => {
      const config = resolveAppConfig();
      const policies = loadPolicies(config.policiesDir);
      const database = await connectDatabase(config, {
        maxConnections: 3,
        applicationName: 'returnvault-seed',
      });
      const progress = progressReporter(options.returns);
      try {
        await applyMigrations(database);
        const result = await seedReturns(
          {
            db: database.db,
            masterKeys: config.masterKeys,
            blindIndexKeys: config.blindIndexKeys,
            rules: policies.returnRules,
          },
          { count: options.returns, batchSize: options.batchSize, onProgress: progress.onProgress },
        );
        progress.stop();
        const perSecond = Math.round((result.returns / result.ms) * 1000);
        console.error(
          `seeded ${result.returns} returns in ${(result.ms / 1000).toFixed(1)} s (${perSecond}/s)`,
        );
      } finally {
        progress.stop();
        await database.close();
      }
    });
}
