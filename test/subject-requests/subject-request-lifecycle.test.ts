import { beforeAll, describe, expect, it } from 'vitest';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { emailOf, returnFor } from './dsr-fixtures';

describe('subject-request lifecycle and deadlines', () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const create = (payload: Record<string, unknown>, headers = dpo) =>
    t.app.inject({ method: 'POST', url: '/v1/subject-requests', headers, payload });
  const step = (id: string, action: string, payload?: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${id}/${action}`,
      headers: dpo,
      payload: payload ?? {},
    });

  it('records a request due one calendar month after receipt, keeping no e-mail in clear', async () => {
    const email = 'lifecycle.person@example.org';
    const response = await create({
      type: 'access',
      email,
      receivedAt: '2026-01-31T09:00:00+00:00',
      channel: 'email',
    });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toMatchObject({
      type: 'access',
      status: 'received',
      subjectId: null,
      receivedAt: '2026-01-31T09:00:00.000Z',
      dueAt: '2026-02-28T09:00:00.000Z',
      extendedDueAt: null,
      overdue: true,
      channel: 'email',
    });
    expect(JSON.stringify(body)).not.toContain(email);
    const [row] = await t.database.sql`select * from subject_requests where id = ${body.id}`;
    expect(JSON.stringify(row)).not.toContain('lifecycle.person');
    expect(row!.email_index).toBeInstanceOf(Buffer);
  });

  it('counts to the last day of February in a leap year', async () => {
    const response = await create({
      type: 'erasure',
      email: 'leap@example.org',
      receivedAt: '2024-01-31T10:00:00+01:00',
    });
    expect(response.json().dueAt).toBe('2024-02-29T09:00:00.000Z');
  });

  it('links the request to the subject an e-mail finds', async () => {
    const created = await createReturnVia(t, returnRequest({}, 'life1'));
    expect(created.statusCode).toBe(201);
    const response = await create({ type: 'access', email: 'ZOE.VAUQUELIN.life1@example.org' });
    const [subject] = await t.database.sql`select subject_id from returns where id = ${created.json().id}`;
    expect(response.json().subjectId).toBe(subject!.subject_id);
    const [row] = await t.database
      .sql`select email_index from subject_requests where id = ${response.json().id}`;
    expect(row!.email_index).toBeNull();
  });

  it('refuses a receipt in the future and a malformed body without echoing the e-mail', async () => {
    const future = await create({
      type: 'access',
      email: 'future@example.org',
      receivedAt: '2999-01-01T00:00:00Z',
    });
    expect(future.statusCode).toBe(400);
    const bad = await create({ type: 'deletion', email: 'not-an-address' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toContain('not-an-address');
    const changes = await create({ type: 'access', email: 'x@example.org', changes: { name: 'New Name' } });
    expect(changes.statusCode).toBe(400);
    const missing = await create({ type: 'rectification', email: 'x@example.org' });
    expect(missing.statusCode).toBe(400);
  });

  it('walks received -> verified -> completed, with 409 on executing an unverified request', async () => {
    const id = (await create({ type: 'access', email: 'walk@example.org' })).json().id;
    const early = await step(id, 'execute');
    expect(early.statusCode).toBe(409);
    expect(early.json().code).toBe('request_not_verified');
    const verified = await step(id, 'verify', { method: 'email_link', note: 'clicked the link' });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({
      status: 'verified',
      verification: { method: 'email_link', by: expect.any(String) },
    });
    expect((await step(id, 'verify', { method: 'document' })).statusCode).toBe(409);
    const done = await step(id, 'execute');
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ status: 'completed', result: { dataHeld: false, returns: 0 } });
    expect(done.json().completedAt).not.toBeNull();
    const again = await step(id, 'execute');
    expect(again.statusCode).toBe(200);
    expect(again.json().completedAt).toBe(done.json().completedAt);
    expect((await step(id, 'reject', { reason: 'too late' })).statusCode).toBe(409);
    const events = await t.database.sql`
      select action from audit_events where target_id = ${id} order by id`;
    expect(events.map((event) => event.action)).toEqual([
      'subject_request.create',
      'subject_request.verify',
      'subject_request.execute',
    ]);
  });

  it('rejects with a reason (Art. 12(4)) and then refuses every other step', async () => {
    await returnFor(t, 'reject');
    const id = (await create({ type: 'erasure', email: emailOf('reject') })).json().id;
    expect((await step(id, 'reject', {})).statusCode).toBe(400);
    const rejected = await step(id, 'reject', { reason: 'manifestly unfounded: repetitive request' });
    expect(rejected.json()).toMatchObject({
      status: 'rejected',
      rejection: { reason: 'manifestly unfounded: repetitive request' },
    });
    expect((await step(id, 'execute')).statusCode).toBe(409);
    expect((await step(id, 'extend', { reason: 'complex' })).statusCode).toBe(409);
  });

  it('extends once, by two months at most, only within the first month, with a reason', async () => {
    const receivedAt = new Date(Date.now() - 10 * 86_400_000).toISOString();
    await returnFor(t, 'extend');
    const id = (await create({ type: 'access', email: emailOf('extend'), receivedAt })).json().id;
    expect((await step(id, 'extend', {})).statusCode).toBe(400);
    expect((await step(id, 'extend', { reason: 'complex', months: 3 })).statusCode).toBe(400);
    const extended = await step(id, 'extend', { reason: 'many returns across merchants to review' });
    expect(extended.statusCode).toBe(200);
    const body = extended.json();
    const due = new Date(body.dueAt);
    const expected = new Date(due);
    expected.setUTCMonth(due.getUTCMonth() + 2);
    expect(body.extendedDueAt).toBe(expected.toISOString());
    expect(body.effectiveDueAt).toBe(body.extendedDueAt);
    expect(body.extension.reason).toBe('many returns across merchants to review');
    const twice = await step(id, 'extend', { reason: 'again' });
    expect(twice.statusCode).toBe(409);
    expect(twice.json()).toMatchObject({ code: 'extension_not_allowed', refusal: 'already_extended' });

    const late = (
      await create({ type: 'access', email: 'late@example.org', receivedAt: '2025-01-15T00:00:00Z' })
    ).json().id;
    const refused = await step(late, 'extend', { reason: 'complex' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().refusal).toBe('first_month_over');
  });

  it('lists overdue requests only while they are open', async () => {
    const overdue = (
      await create({ type: 'access', email: 'overdue@example.org', receivedAt: '2025-03-01T00:00:00Z' })
    ).json().id;
    const fresh = (await create({ type: 'access', email: 'fresh@example.org' })).json().id;
    const closed = (
      await create({ type: 'access', email: 'closed@example.org', receivedAt: '2025-03-01T00:00:00Z' })
    ).json().id;
    await step(closed, 'reject', { reason: 'identity could not be verified' });
    const list = await t.app.inject({ url: '/v1/subject-requests?overdue=true&limit=500', headers: dpo });
    expect(list.statusCode).toBe(200);
    const ids = list.json().items.map((item: { id: string }) => item.id);
    expect(ids).toContain(overdue);
    expect(ids).not.toContain(fresh);
    expect(ids).not.toContain(closed);
    expect(list.json().items.every((item: { overdue: boolean }) => item.overdue)).toBe(true);
    const rejected = await t.app.inject({ url: '/v1/subject-requests?status=rejected', headers: dpo });
    expect(rejected.json().items.map((item: { id: string }) => item.id)).toContain(closed);
    expect((await t.app.inject({ url: '/v1/subject-requests?overdue=maybe', headers: dpo })).statusCode).toBe(
      400,
    );
  });

  it('guards the routes: scope, merchant-limited tokens, unknown ids', async () => {
    const support = bearer(await t.token('support'));
    expect((await create({ type: 'access', email: 'a@example.org' }, support)).statusCode).toBe(403);
    const merchantDpo = bearer(await t.token('dpo', { merchantId: 'm-100' }));
    expect((await create({ type: 'access', email: 'a@example.org' }, merchantDpo)).statusCode).toBe(403);
    expect((await t.app.inject({ url: '/v1/subject-requests/not-a-uuid', headers: dpo })).statusCode).toBe(
      400,
    );
    const missing = await t.app.inject({ url: `/v1/subject-requests/${crypto.randomUUID()}`, headers: dpo });
    expect(missing.statusCode).toBe(404);
    expect(
      (await t.app.inject({ method: 'POST', url: '/v1/subject-requests', payload: {} })).statusCode,
    ).toBe(401);
  });
});
