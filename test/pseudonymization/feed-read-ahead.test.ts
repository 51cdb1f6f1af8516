import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPseudonymKeys, type RecipientKeys } from '../../src/pseudonymization/pseudonyms';
import { createTestApp, type TestApp } from '../support/test-app';
import {
  createReturn,
  type FeedResponse,
  fetchPage,
  randomCustomer,
  untilFeedCaughtUp,
} from './feed-fixtures';

/*
 * After a full page the feed reads the next one ahead (feed-page.ts). A page read ahead must never be
 * served once a return in it has changed: the recipient would get the old version, or an erased
 * return's data after its erasure.
 */
describe('pseudonymized feed read-ahead', () => {
  let t: TestApp;
  let token: string;
  let keys: RecipientKeys;
  const ids: string[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    token = await t.token('backend', { clientId: 'analytics' });
    keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
    for (let i = 0; i < 6; i++) ids.push(await createReturn(t, randomCustomer()));
    await untilFeedCaughtUp(t);
  });

  const page = async (after?: string) => {
    const response = await fetchPage(t, token, after ? { limit: '2', after } : { limit: '2' });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as FeedResponse;
  };
  const summary = (items: Record<string, unknown>[]) =>
    items.map((item) => (item.erased ? [item.id, 'erased'] : [item.id, item.status]));
  const pseudonym = (index: number) => keys.pseudonym('return', ids[index]!);
  // Long enough for the read-ahead of the next pages (two rows each) to have finished.
  const readAheadDone = () => sleep(300);

  it('serves the next page as read now after a return in it changed or was erased', async () => {
    const first = await page();
    expect(summary(first.items)).toEqual([
      [pseudonym(0), 'created'],
      [pseudonym(1), 'created'],
    ]);
    expect(first.hasMore).toBe(true);

    await readAheadDone();
    await t.database.sql`update returns set status = 'received' where id = ${ids[2]!}`;
    await untilFeedCaughtUp(t);
    // The third return moved to the end of the feed: the next page is the fourth and the fifth.
    const second = await page(first.next);
    expect(summary(second.items)).toEqual([
      [pseudonym(3), 'created'],
      [pseudonym(4), 'created'],
    ]);

    await readAheadDone();
    await t.database.sql`update returns set erased_at = now() where id = ${ids[5]!}`;
    await untilFeedCaughtUp(t);
    // The sixth return was read ahead before its erasure: only its tombstone is sent, after the third.
    const third = await page(second.next);
    expect(summary(third.items)).toEqual([
      [pseudonym(2), 'received'],
      [pseudonym(5), 'erased'],
    ]);
  });

  it('serves a page read ahead when nothing in it moved, and records it like any page', async () => {
    const audited = async () =>
      Number(
        (
          await t.database
            .sql`select count(*) as count from audit_events where action = 'pseudonymized_feed.read'`
        )[0]!.count,
      );
    const before = await audited();
    const first = await page();
    await readAheadDone();
    const second = await page(first.next);
    expect(second.items).toHaveLength(2);
    expect(second.items.map((item) => item.id)).not.toContain(first.items[0]!.id);
    expect(await audited()).toBe(before + 2);
  });
});

describe('pseudonymized feed read-ahead over an erased return', () => {
  it('does not serve a page read ahead once a return left it, even with an erased return in its range', async () => {
    const t = await createTestApp();
    const token = await t.token('backend', { clientId: 'analytics' });
    const keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await createReturn(t, randomCustomer()));
    // Erased in place: it keeps its position, which the next page's range covers, and is not read.
    await t.database.sql`update returns set erased_at = now() where id = ${ids[2]!}`;
    await untilFeedCaughtUp(t);
    const page = async (after?: string) =>
      (await fetchPage(t, token, after ? { limit: '2', after } : { limit: '2' })).json() as FeedResponse;
    const pseudonym = (index: number) => keys.pseudonym('return', ids[index]!);

    const first = await page();
    expect(first.items.map((item) => item.id)).toEqual([pseudonym(0), pseudonym(1)]);
    await sleep(300);
    // Read ahead: the fourth and fifth returns. The fourth is then restricted (Art. 18), which moves
    // it to the end of the feed: as many rows now lie in the range as the page had, but not the same.
    await t.database
      .sql`update returns set restricted_at = now(), data_state = 'restricted' where id = ${ids[3]!}`;
    await untilFeedCaughtUp(t);
    const second = await page(first.next);
    expect(second.items.map((item) => item.id)).toEqual([pseudonym(4), pseudonym(5)]);
    const rest = await page(second.next);
    expect(rest.items.find((item) => item.id === pseudonym(3))).toMatchObject({ restricted: true });
  });
});
