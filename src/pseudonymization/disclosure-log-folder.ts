import type { Executor } from '../audit/record-audit-event';
import { foldDisclosureLog } from './disclosure-register';

/** Log rows folded per statement: a full page discloses up to 1,000 subjects, so about 50,000 at most. */
const pagesPerFold = 50;
/** Statements per tick at most: a busy feed that keeps logging never keeps the folder running. */
const foldsPerTick = 40;

export interface DisclosureLogFolderOptions {
  /** How often the folder looks whether to fold. */
  tickMs: number;
  /** The feed counts as quiet once no page was served for this long. */
  quietMs: number;
  /** Pages served since the last fold past which it folds even while the feed is busy. */
  maxBacklogPages: number;
}

const defaults: DisclosureLogFolderOptions = { tickMs: 2_000, quietMs: 2_000, maxBacklogPages: 2_000 };

export interface DisclosureLogFolder {
  /** Tells the folder a page was served (and logged). */
  pageServed(): void;
  /** Stops the timer and waits for a fold under way; what is left stays logged for the next start. */
  stop(): Promise<void>;
}

/**
 * Folds the disclosure log (disclosure-register.ts) into the register, batch after batch until it is
 * empty (at most `foldsPerTick` batches a tick), when the feed is quiet, or while it is busy once the
 * backlog grows past `maxBacklogPages`. The backlog stays small because an access request scans the
 * log unindexed: a GIN index on the subjects would cost each page about as much as the upsert the log
 * replaced. Why wait for a quiet feed: a fold costs about as much database time per subject as that
 * upsert, and the pages of a sync would wait for it; folding later also counts a subject disclosed by
 * several syncs once. One fold at a time per process; instances
 * skip each other's rows. A failed fold changes nothing (one statement) and is tried again later.
 */
export function startDisclosureLogFolder(
  db: Executor,
  log: { error(object: unknown, message: string): void },
  options: Partial<DisclosureLogFolderOptions> = {},
): DisclosureLogFolder {
  const { tickMs, quietMs, maxBacklogPages } = { ...defaults, ...options };
  let running: Promise<void> | undefined;
  let stopping = false;
  let lastServedAt = 0;
  let servedSinceFold = 0;
  const foldAll = async () => {
    servedSinceFold = 0;
    for (let folds = 0; folds < foldsPerTick && !stopping; folds += 1) {
      if ((await foldDisclosureLog(db, pagesPerFold)) < pagesPerFold) return;
    }
  };
  const tick = () => {
    const quiet = Date.now() - lastServedAt >= quietMs;
    if (running || !(quiet || servedSinceFold >= maxBacklogPages)) return;
    running = foldAll()
      .catch((error) =>
        log.error({ code: (error as { code?: unknown }).code }, 'disclosure log fold failed; retrying later'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, tickMs);
  timer.unref();
  return {
    pageServed: () => {
      lastServedAt = Date.now();
      servedSinceFold += 1;
    },
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      await running;
    },
  };
}
