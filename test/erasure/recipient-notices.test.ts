import { beforeAll, describe, expect, it } from 'vitest';
import { resolveAppConfig } from '../../src/config/app-config';
import { loadPolicies } from '../../src/policies/load-policies';
import { createPseudonymKeys } from '../../src/pseudonymization/pseudonyms';
import { runRetention } from '../../src/retention/retention-engine';
import { closeReturn, justAfter, placeHold, retentionDeps } from '../retention/retention-fixtures';
import { emailOf, returnFor, runRequest } from '../subject-requests/dsr-fixtures';
import { createTestApp, type TestApp, testEnvironment } from '../support/test-app';

describe('Art. 19 notices: erasures and rectifications reach subscribed merchants and recipients', () => {
  let t: TestApp;
  beforeAll(async () => {
    const policies = loadPolicies(resolveAppConfig(testEnvironment()).policiesDir);
    t = await createTestApp({
      policies: {
        ...policies,
        webhookSubscriptions: [
          {
            id: 'shop',
            url: 'http://127.0.0.1:9/shop',
            merchantId: 'm-100',
            events: ['return.erased', 'subject.rectified'],
            maxAttempts: 3,
            timeoutMs: 1000,
          },
          {
            id: 'bi',
            url: 'http://127.0.0.1:9/bi',
            recipientId: 'analytics',
            events: ['return.erased', 'subject.rectified'],
            maxAttempts: 3,
            timeoutMs: 1000,
          },
          {
            id: 'wms',
            url: 'http://127.0.0.1:9/wms',
            recipientId: 'warehouse',
            events: ['subject.rectified'],
            maxAttempts: 3,
            timeoutMs: 1000,
          },
        ],
      },
    });
  });

  const outbox = () =>
    t.database.sql`select type, merchant_id, recipient_id, data from webhook_events order by created_at`;

  it('writes the notices in the outbox, with the recipient pseudonyms only', async () => {
    const subject = await returnFor(t, 'note1', { refund: { method: 'original_payment' } });
    await t.database.sql`delete from webhook_events`;
    await runRequest(t, {
      type: 'rectification',
      email: emailOf('note1'),
      changes: { phone: '+33698765432' },
    });
    await runRequest(t, { type: 'erasure', email: emailOf('note1') });
    const keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
    const events = await outbox();
    expect(events).toEqual(
      expect.arrayContaining([
        {
          type: 'subject.rectified',
          merchant_id: 'm-100',
          recipient_id: null,
          data: { returnIds: [subject.id] },
        },
        {
          type: 'subject.rectified',
          merchant_id: null,
          recipient_id: 'analytics',
          data: { returnIds: [keys.pseudonym('return', subject.id)] },
        },
        {
          type: 'subject.rectified',
          merchant_id: null,
          recipient_id: 'warehouse',
          data: {
            returnIds: [
              createPseudonymKeys(t.config.pseudonymSecret)('warehouse').pseudonym('return', subject.id),
            ],
          },
        },
        { type: 'return.erased', merchant_id: 'm-100', recipient_id: null, data: { returnId: subject.id } },
        {
          type: 'return.erased',
          merchant_id: null,
          recipient_id: 'analytics',
          data: { returnId: keys.pseudonym('return', subject.id) },
        },
      ]),
    );
    expect(events).toHaveLength(5);
    expect(JSON.stringify(events)).not.toContain('note1');
    expect(JSON.stringify(events)).not.toContain(subject.subjectId);
    expect(JSON.stringify(events)).not.toContain('+33698765432');
  });

  it('tells a recipient that may not link returns to one person of each rectified return apart', async () => {
    const first = await returnFor(t, 'note4', { refund: { method: 'original_payment' } });
    const second = await returnFor(t, 'note4', {
      orderRef: 'ORD-note4-b',
      refund: { method: 'original_payment' },
    });
    await t.database.sql`delete from webhook_events`;
    await runRequest(t, {
      type: 'rectification',
      email: emailOf('note4'),
      changes: { name: 'Zoé Renommée' },
    });
    const rectified = await t.database.sql`
      select recipient_id, data from webhook_events where type = 'subject.rectified' and recipient_id is not null
      order by recipient_id, data::text`;
    const pseudonymsFor = (recipient: string) =>
      [first.id, second.id].map((id) =>
        createPseudonymKeys(t.config.pseudonymSecret)(recipient).pseudonym('return', id),
      );
    // analytics receives `subject` in the feed: one notice may group the person's returns.
    const analytics = rectified.filter((row) => row.recipient_id === 'analytics');
    expect(analytics).toHaveLength(1);
    expect([...analytics[0]!.data.returnIds].sort()).toEqual(pseudonymsFor('analytics').sort());
    // warehouse does not: one notice per return, so the notices do not say which returns are one person's.
    const warehouse = rectified.filter((row) => row.recipient_id === 'warehouse');
    expect(warehouse.map((row) => row.data.returnIds)).toEqual(
      expect.arrayContaining(pseudonymsFor('warehouse').map((pseudonym) => [pseudonym])),
    );
    expect(warehouse).toHaveLength(2);
  });

  it('announces each return a retention run erases, and none that a legal hold keeps', async () => {
    const erased = await returnFor(t, 'note2', { refund: { method: 'original_payment' } });
    const held = await returnFor(t, 'note3', { refund: { method: 'original_payment' } });
    for (const fixture of [erased, held]) await closeReturn(t, fixture.id);
    await placeHold(t, { returnId: held.id });
    await t.database.sql`delete from webhook_events`;
    const summary = await runRetention(retentionDeps(t), { asOf: justAfter('P5Y') });
    expect(summary!.rules.find((rule) => rule.ruleId === 'contact-erase')).toMatchObject({
      done: 1,
      skippedHeld: 1,
    });
    const keys = createPseudonymKeys(t.config.pseudonymSecret)('analytics');
    const events = await outbox();
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'return.erased', merchant_id: 'm-100', recipient_id: null, data: { returnId: erased.id } },
        {
          type: 'return.erased',
          merchant_id: null,
          recipient_id: 'analytics',
          data: { returnId: keys.pseudonym('return', erased.id) },
        },
      ]),
    );
    expect(events).toHaveLength(2);
  });
});
