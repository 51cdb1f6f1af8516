import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sourceRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Imports every `*.schema.ts` under src/ (the files drizzle.config.ts collects), so what they declare
 * beside their tables (encrypted columns) is known even before a route imports them.
 */
export async function importSchemaModules(): Promise<void> {
  const files = readdirSync(sourceRoot, { recursive: true, encoding: 'utf8' }).filter((file) =>
    file.endsWith('.schema.ts'),
  );
  await Promise.all(files.map((file) => import(pathToFileURL(path.join(sourceRoot, file)).href)));
}
