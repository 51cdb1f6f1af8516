import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findOrCreateSubject } from '../../src/crypto/subjects';
import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { bearer, createTestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { emailOf } from './dsr-fixtures';

const key = (version: string) => `${version}:${randomBytes(32).toString('base64')}`;

/**
 * A request on an e-mail nothing is held on keeps the e-mail's digest under the blind-index key of
 * the day. Data arriving after BLIND_INDEX_KEYS gained a version is indexed under the new one.
 */
describe('open requests across a blind-index key rotation', () => {
  it('belong to the subject created for their e-mail under the new key', async () => {
    const database = await createTestDatabase();
    const masterKeys = key('v1');
    const before = key('v1');
    const old = await createTestApp({ database, env: { MASTER_KEYS: masterKeys, BLIND_INDEX_KEYS: before } });
    const dpoOld = bearer(await old.token('dpo'));
    const open = async (tag: string, type: string) => {
      const created = await old.app.inject({
        method: 'POST',
        url: '/v1/subject-requests',
        headers: dpoOld,
        payload: { type, email: emailOf(tag) },
      });
      expect(created.statusCode, created.body).toBe(201);
      return created.json().id as string;
    };
    const erasure = await open('rot', 'erasure');
    const answered = await open('rot', 'access');
    await old.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${answered}/reject`,
      headers: dpoOld,
      payload: { reason: 'identité non établie' },
    });
    const fallback = await open('rot2', 'access');

    const rotated = await createTestApp({
      database,
      env: { MASTER_KEYS: masterKeys, BLIND_INDEX_KEYS: `${before},${key('v2')}` },
    });
    const made = await createReturnVia(rotated, returnRequest({}, 'rot'));
    expect(made.statusCode, made.body).toBe(201);
    const { subjectId } = await findOrCreateSubject(
      rotated.database.db,
      rotated.app.emailIndex,
      emailOf('rot2'),
    );

    const subjectsOf = async () =>
      Object.fromEntries(
        (
          await database.sql`select id, subject_id from subject_requests where id in ${database.sql([erasure, answered, fallback])}`
        ).map((row) => [row.id as string, row.subject_id as string | null]),
      );
    const [returnSubject] = await database.sql`select subject_id from returns where id = ${made.json().id}`;
    // Open requests are the new subject's; one already answered is left as it was answered.
    expect(await subjectsOf()).toEqual({
      [erasure]: returnSubject!.subject_id,
      [answered]: null,
      [fallback]: subjectId,
    });

    const dpo = bearer(await rotated.token('dpo'));
    await rotated.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${erasure}/verify`,
      headers: dpo,
      payload: { method: 'document' },
    });
    const executed = await rotated.app.inject({
      method: 'POST',
      url: `/v1/subject-requests/${erasure}/execute`,
      headers: dpo,
    });
    expect(executed.statusCode, executed.body).toBe(200);
    expect(executed.json().result).toMatchObject({ dataHeld: true });
    const [erased] = await database.sql`
      select erased_at, customer_email_enc is null as gone from returns where id = ${made.json().id}`;
    expect(erased).toMatchObject({ gone: true });
    expect(erased!.erased_at).not.toBeNull();
  });
});
