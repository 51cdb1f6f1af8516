/**
 * `npm run bench -- <name> [options]`: runs one benchmark. Each benchmark module exports
 * `run(args)`; add yours to the table below.
 */
const benchmarks: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  audit: () => import('./audit-bench'),
  dsr: () => import('./dsr-bench'),
  feed: () => import('./feed-bench'),
  retention: () => import('./retention-bench'),
  returns: () => import('./returns-bench'),
  webhooks: () => import('./webhooks-bench'),
};

const [name, ...args] = process.argv.slice(2);
const load = name ? benchmarks[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(benchmarks).join('|')}> [options]`);
  process.exit(2);
}
load()
  .then((benchmark) => benchmark.run(args))
  .then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`bench ${name}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
