import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/config/project-root';

const srcRoot = path.join(projectRoot(), 'src');

describe('schema module registry', () => {
  it('imports every *.schema.ts under src/, so the bundled server declares every encrypted column', () => {
    const onDisk = readdirSync(srcRoot, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.schema.ts'))
      .map((file) => file.replace(/\\/g, '/').replace(/\.ts$/, ''))
      .sort();
    const registry = readFileSync(path.join(srcRoot, 'db/schema-modules.ts'), 'utf8');
    const imported = [...registry.matchAll(/^import '\.\.\/(.+)';$/gm)].map((match) => match[1]).sort();
    expect(onDisk.length).toBeGreaterThan(10);
    expect(imported).toEqual(onDisk);
  });
});
