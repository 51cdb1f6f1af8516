import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../support/test-app';
import { emailOf, returnFor, runRequest } from './dsr-fixtures';

describe("access package: the subject's own requests", () => {
  let t: TestApp;
  let dpo: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp();
    dpo = bearer(await t.token('dpo'));
  });

  const packageOf = async (id: string) => {
    const response = await t.app.inject({ url: `/v1/subject-requests/${id}/package`, headers: dpo });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };

  it('lists a request received before the subject existed and rejected, found by its blind index', async () => {
    const erasure = await runRequest(t, { type: 'erasure', email: emailOf('pkg1') }, { execute: false });
    const rejected = await t.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${erasure.id}/reject`,
      headers: dpo,
      payload: { reason: 'no data held on this e-mail address' },
    });
    expect(rejected.statusCode).toBe(200);
    const held = await returnFor(t, 'pkg1');
    const access = await runRequest(t, { type: 'access', email: emailOf('pkg1') }, { execute: false });

    const pack = await packageOf(access.id);
    expect(pack.subject.id).toBe(held.subjectId);
    expect(pack.requests).toEqual([
      expect.objectContaining({ id: erasure.id, type: 'erasure', status: 'rejected' }),
      expect.objectContaining({ id: access.id, type: 'access' }),
    ]);
    expect(JSON.stringify(pack.requests)).not.toContain('pkg1');
  });

  it('lists the access request itself when it was received before the data existed', async () => {
    const access = await runRequest(t, { type: 'access', email: emailOf('pkg2') }, { execute: false });
    await returnFor(t, 'pkg2');
    // Another person's request stays out.
    await runRequest(t, { type: 'erasure', email: emailOf('pkg2-other') }, { execute: false });

    const pack = await packageOf(access.id);
    expect(pack.dataHeld).toBe(true);
    expect(pack.requests.map((request: { id: string }) => request.id)).toEqual([access.id]);
  });
});
