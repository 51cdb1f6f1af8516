import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding package.json (and migrations/, policies/). Found by walking up from this
 * module, because it runs both from src/ (tsx, tests) and from the bundle under dist/.
 */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('returnvault: package.json not found above the running code');
    dir = parent;
  }
  return dir;
}
