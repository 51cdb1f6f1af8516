import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { startDisclosureLogFolder } from '../../src/pseudonymization/disclosure-log-folder';
import { disclosuresForSubject, foldDisclosureLog } from '../../src/pseudonymization/disclosure-register';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const silentLog = { error: () => {} };

describe('disclosure log and its fold into the register', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  /** One served page's log row, as the feed writes it. */
  const logPage = (recipientId: string, subjectIds: string[], at: string) =>
    database.sql`insert into recipient_disclosure_log (recipient_id, disclosed_at, subject_ids)
      values (${recipientId}, ${at}, ${subjectIds}::uuid[])`;
  const loggedPages = async () =>
    (await database.sql<{ count: number }[]>`select count(*)::int as count from recipient_disclosure_log`)[0]!
      .count;
  const foldAll = async () => {
    let folded = 0;
    for (let pages = -1; pages !== 0; folded += pages) pages = await foldDisclosureLog(database.db, 7);
    return folded;
  };
  const times = (rows: Awaited<ReturnType<typeof disclosuresForSubject>>) =>
    rows.map((row) => [
      row.recipientId,
      row.firstDisclosedAt.toISOString(),
      row.lastDisclosedAt.toISOString(),
    ]);

  it('answers the same before and after a fold: first time kept, last time moved', async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    await logPage('analytics', [alice, bob], '2026-01-05T10:00:00.000Z');
    await logPage('warehouse', [bob], '2026-01-06T10:00:00.000Z');
    await logPage('analytics', [alice], '2026-01-07T10:00:00.000Z');
    const before = times(await disclosuresForSubject(database.db, alice));
    expect(before).toEqual([['analytics', '2026-01-05T10:00:00.000Z', '2026-01-07T10:00:00.000Z']]);
    await foldAll();
    expect(await loggedPages()).toBe(0);
    expect(times(await disclosuresForSubject(database.db, alice))).toEqual(before);
    expect(times(await disclosuresForSubject(database.db, bob))).toEqual([
      ['analytics', '2026-01-05T10:00:00.000Z', '2026-01-05T10:00:00.000Z'],
      ['warehouse', '2026-01-06T10:00:00.000Z', '2026-01-06T10:00:00.000Z'],
    ]);

    // A later page moves `last` of the folded entry, before and after its own fold.
    await logPage('analytics', [alice], '2026-02-01T10:00:00.000Z');
    const later = [['analytics', '2026-01-05T10:00:00.000Z', '2026-02-01T10:00:00.000Z']];
    expect(times(await disclosuresForSubject(database.db, alice))).toEqual(later);
    await foldAll();
    expect(times(await disclosuresForSubject(database.db, alice))).toEqual(later);
  });

  it('folds each page once when two folds run side by side', async () => {
    const subjects = Array.from({ length: 300 }, () => randomUUID());
    for (let page = 0; page < 60; page += 1) {
      await logPage(
        'bulk',
        subjects.slice((page * 5) % 300, ((page * 5) % 300) + 20),
        '2026-03-01T00:00:00.000Z',
      );
    }
    const [first, second] = await Promise.all([foldAll(), foldAll()]);
    expect(first + second).toBe(60);
    expect(await loggedPages()).toBe(0);
    const [row] = await database.sql<{ count: number }[]>`
      select count(*)::int as count from recipient_disclosures where recipient_id = 'bulk'`;
    expect(row!.count).toBe(300);
  });

  it('folds once the feed is quiet, or while busy once the backlog is large', async () => {
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const untilFolded = async () => {
      for (let tries = 0; (await loggedPages()) > 0; tries += 1) {
        if (tries > 100) throw new Error('the log was not folded');
        await wait(50);
      }
    };
    /** Serves `pages` pages to a folder with these options, `gapMs` apart, then waits for the fold. */
    const serveThenFold = async (
      options: { quietMs: number; maxBacklogPages: number },
      pages: number,
      gapMs: number,
    ) => {
      const folder = startDisclosureLogFolder(database.db, silentLog, { tickMs: 10, ...options });
      for (let page = 0; page < pages; page += 1) {
        // As the feed does: the page's log row is committed before the page counts as served, so a
        // fold the count starts sees every counted page.
        await logPage('busy', [randomUUID()], '2026-04-01T00:00:00.000Z');
        folder.pageServed();
        await wait(gapMs);
      }
      const leftWhileServing = await loggedPages();
      await untilFolded();
      await folder.stop();
      return leftWhileServing;
    };
    // A page every 20 ms: the feed never gets quiet while it serves, so nothing is folded until it stops.
    expect(await serveThenFold({ quietMs: 1_000, maxBacklogPages: 1_000 }, 15, 20)).toBe(15);
    // Never quiet (a minute), but a backlog of 5 pages is folded while serving.
    await serveThenFold({ quietMs: 60_000, maxBacklogPages: 5 }, 5, 0);
  });
});
