import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** `returnvault <args>` as a real process; usage mistakes are caught before any database is opened. */
async function cli(args: string[]) {
  try {
    await run('npx', ['tsx', 'src/cli/main.ts', ...args]);
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
}

describe('returnvault usage mistakes', () => {
  it('exits non-zero with one line naming the mistake, not the whole help', async () => {
    const cases: [string[], RegExp][] = [
      [['token'], /required option '--role <role>'/],
      [['token', '--role', 'king'], /'king' is invalid\. expected one of merchant/],
      [['seed', '--returns', '0'], /'--returns <n>' argument '0' is invalid/],
      [['retention', 'run', '--as-of', 'tomorrow'], /--as-of: expected an ISO date/],
      [['nonsense'], /unknown command 'nonsense'/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((result, index) => {
      const [args, reason] = cases[index]!;
      const label = args.join(' ');
      expect(result.code, label).toBe(2);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, label).toHaveLength(1);
      expect(lines[0], label).toMatch(reason);
      expect(lines[0], label).toMatch(/\(see --help\)$/);
    });
  });
});
