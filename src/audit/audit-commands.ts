import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { JSONWebKeySet } from 'jose';
import { resolveAppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import { publishSigningKey } from '../signing/published-keys';
import { createSigner } from '../signing/signing-key';
import { jwksSchema } from './audit-bundle';
import { latestCheckpoint } from './audit-log-store';
import { runSequencerOnce } from './sequencer';
import { verifyBundle } from './verify-bundle';

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`cannot read the ${what} file ${file}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the ${what} file ${file} is not JSON`);
  }
}

/** The trusted keys: from the service's /.well-known/jwks.json URL or a file saved from it. */
async function loadJwks(source: string): Promise<JSONWebKeySet> {
  let document: unknown;
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source).catch(() => undefined);
    if (!response?.ok) throw new Error(`cannot fetch the keys from ${source}`);
    document = await response.json().catch(() => undefined);
  } else {
    document = await readJson(source, 'JWKS');
  }
  const parsed = jwksSchema.safeParse(document);
  if (!parsed.success) throw new Error(`${source} is not a JWK set`);
  return parsed.data as JSONWebKeySet;
}

async function withDatabase<T>(run: (database: Awaited<ReturnType<typeof connectDatabase>>) => Promise<T>) {
  const config = resolveAppConfig();
  const database = await connectDatabase(config, { maxConnections: 2 });
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}

/** `returnvault audit ...`: offline verification for auditors, and two operator helpers. */
export function registerAuditCommands(program: Command) {
  const audit = program.command('audit').description('the tamper-evident audit log');

  audit
    .command('verify <bundle-file>')
    .description('check an export bundle offline: signature, every event against the tree, consistency')
    .option('--jwks <url-or-file>', 'trusted public keys (default: the keys inside the bundle)')
    .option('--since <checkpoint-file>', 'a checkpoint kept earlier that the log must extend')
    .action(async (bundleFile: string, options: { jwks?: string; since?: string }) => {
      const bundle = await readJson(bundleFile, 'bundle');
      const jwks = options.jwks ? await loadJwks(options.jwks) : undefined;
      const since = options.since ? await readJson(options.since, 'checkpoint') : undefined;
      const summary = await verifyBundle(bundle, { jwks, since });
      const { start, end } = summary.range;
      const lines = [
        `OK: ${summary.events} event(s) at positions ${end > start ? `${start}..${end - 1}` : '(none)'} match the checkpoint of tree size ${summary.treeSize}`,
        `    root ${summary.rootHash}, signed ${summary.signedAt} by key ${summary.keyId}${options.jwks ? '' : ' (keys taken from the bundle; pass --jwks to pin them)'}`,
      ];
      if (summary.window) {
        const { from, to } = summary.window;
        const exported =
          from === null && to === null
            ? 'the whole log'
            : `the time window ${from ?? 'start'} to ${to ?? 'end'}`;
        lines.push(
          `    the service signed that it exported ${exported}, positions ${start} to ${end} (end excluded)`,
        );
      }
      if (summary.consistentWith !== undefined) {
        lines.push(`    extends the kept checkpoint of tree size ${summary.consistentWith}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      if (!summary.window) {
        console.error(
          'WARNING: a bundle of the format before export statements: nothing signs its range, so events cut off at either end would go unnoticed; export it again for a signed range',
        );
      }
      if (!options.jwks) {
        // Anyone can build a bundle that is consistent under a key of their own: only a pinned key
        // makes the signature prove the service wrote it.
        console.error(
          `WARNING: the signature was checked against the keys inside the bundle (key ${summary.keyId}); pin the service's keys with --jwks (its /.well-known/jwks.json, as a URL or a file) to prove where it comes from`,
        );
      }
    });

  audit
    .command('checkpoint')
    .description('print or save the latest signed checkpoint (keep it to check later exports with --since)')
    .option('--out <file>', 'write it to this file')
    .action(async (options: { out?: string }) => {
      const checkpoint = await withDatabase((database) => latestCheckpoint(database.sql));
      if (!checkpoint) throw new Error('no audit checkpoint has been signed yet');
      const text = `${JSON.stringify(checkpoint, null, 2)}\n`;
      if (options.out) {
        await writeFile(options.out, text);
        console.error(`checkpoint of tree size ${checkpoint.treeSize} saved to ${options.out}`);
      } else {
        process.stdout.write(text);
      }
    });

  audit
    .command('sequence')
    .description('position and sign pending audit events now (the server does it every second)')
    .action(async () => {
      const config = resolveAppConfig();
      const signer = await createSigner(config.signingKeyPem);
      const result = await withDatabase(async (database) => {
        // What this key signs must verify through the service's JWKS.
        await publishSigningKey(database.db, signer);
        return runSequencerOnce(database, signer);
      });
      console.error(`${result.sequenced} event(s) sequenced; tree size ${result.treeSize}`);
    });
}
