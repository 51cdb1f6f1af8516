import { Command, InvalidArgumentError } from 'commander';
import { registerAuditCommands } from '../audit/audit-commands';
import { mintToken } from '../auth/mint-token';
import { type Role, roles } from '../auth/scopes';
import { resolveAppConfig } from '../config/app-config';
import { ConfigError } from '../config/config';
import { connectDatabase } from '../db/connect';
import { applyMigrations } from '../db/migrations';
import { registerKeyCommands } from '../keys/key-cli';
import { loadPolicies, PolicyError } from '../policies/load-policies';
import { registerRetentionCommands } from '../retention/retention-cli';
import { registerSeedCommand } from '../returns/seed-cli';
import { buildRecordOfProcessing, renderRecordOfProcessing } from '../ropa/record-of-processing';
import { runServer } from '../server/run-server';
import { registerWebhookCommands } from '../webhooks/webhook-cli';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

const program = new Command()
  .name('returnvault')
  .description('Personal data of parcel returns, kept GDPR-compliant.')
  // One line per usage mistake (CONTRACT.md), with where to look; subcommands inherit this.
  .configureOutput({ outputError: (message, write) => write(`${message.trimEnd()} (see --help)\n`) })
  .exitOverride();

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const config = resolveAppConfig();
    const database = await connectDatabase(config, { maxConnections: 2 });
    try {
      await applyMigrations(database);
      console.error('migrations applied');
    } finally {
      await database.close();
    }
  });

program
  .command('serve')
  .description('serve the HTTP API')
  .action(async () => {
    await runServer(resolveAppConfig());
  });

program
  .command('token')
  .description('print a signed development access token')
  .requiredOption('--role <role>', `one of ${roles.join(', ')}`, (value: string) => {
    if (!roles.includes(value as Role)) throw new InvalidArgumentError(`expected one of ${roles.join(', ')}`);
    return value as Role;
  })
  .option('--sub <id>', 'subject of the token')
  .option('--client-id <id>', 'recipient id for pseudonymized data')
  .option('--merchant-id <id>', 'limit the token to one merchant')
  .option('--ttl <seconds>', 'lifetime in seconds', positiveInt, 3600)
  .action(
    async (options: { role: Role; sub?: string; clientId?: string; merchantId?: string; ttl: number }) => {
      const config = resolveAppConfig();
      const token = await mintToken(config.jwt, { ...options, ttlSeconds: options.ttl });
      process.stdout.write(`${token}\n`);
    },
  );

program
  .command('ropa')
  .description('print the record of processing activities (GDPR Art. 30) generated from policies/')
  .option('--json', 'print it as JSON, as GET /v1/ropa answers')
  .action((options: { json?: boolean }) => {
    const ropa = buildRecordOfProcessing(loadPolicies(resolveAppConfig().policiesDir));
    process.stdout.write(
      options.json ? `${JSON.stringify(ropa, null, 2)}\n` : renderRecordOfProcessing(ropa),
    );
  });

registerWebhookCommands(program);
registerKeyCommands(program);
registerRetentionCommands(program);
registerSeedCommand(program);

registerAuditCommands(program);

/** Every failure ends as one line on stderr and a non-zero exit; configuration mistakes carry no stack. */
function reportFailure(error: unknown): never {
  const code = (error as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
  if (error instanceof ConfigError || error instanceof PolicyError) {
    console.error(error.message);
  } else {
    console.error(`returnvault: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  process.exit(1);
}

program.parseAsync(process.argv).catch(reportFailure);
