import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

/** Adds one line to the summary of what the hostile suite tried, printed when the run ends. */
export function reportHostile(line: string): void {
  appendFileSync(inject('hostileSummaryFile'), `${line}\n`);
}
