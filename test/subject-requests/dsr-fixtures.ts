import { createReturnVia, returnRequest } from '../returns/return-fixtures';
import { bearer, type TestApp } from '../support/test-app';

/** A return for a tagged customer (e-mail zoe.vauquelin.<tag>@example.org); answers its id and subject. */
export async function returnFor(t: TestApp, tag: string, overrides: Record<string, unknown> = {}) {
  const response = await createReturnVia(t, returnRequest(overrides, tag));
  if (response.statusCode !== 201)
    throw new Error(`return not created: ${response.statusCode} ${response.body}`);
  const id = response.json().id as string;
  const [row] = await t.database.sql`select subject_id from returns where id = ${id}`;
  return { id, subjectId: row!.subject_id as string };
}

export const emailOf = (tag: string) => `zoe.vauquelin.${tag}@example.org`;

/** Creates, verifies and optionally executes a request; answers the last response. */
export async function runRequest(
  t: TestApp,
  payload: Record<string, unknown>,
  options: { execute?: boolean } = { execute: true },
) {
  const headers = bearer(await t.token('dpo'));
  const created = await t.app.inject({ method: 'POST', url: '/v1/subject-requests', headers, payload });
  if (created.statusCode !== 201)
    throw new Error(`request not created: ${created.statusCode} ${created.body}`);
  const id = created.json().id as string;
  await t.app.inject({
    method: 'POST',
    url: `/v1/subject-requests/${id}/verify`,
    headers,
    payload: { method: 'account_login' },
  });
  if (!options.execute) return { id, response: created };
  const response = await t.app.inject({ method: 'POST', url: `/v1/subject-requests/${id}/execute`, headers });
  return { id, response };
}

/** Reads a return for a purpose, as a customer-service agent would. */
export async function readReturn(t: TestApp, id: string, purpose: string) {
  return t.app.inject({
    url: `/v1/returns/${id}`,
    headers: { ...bearer(await t.token('support')), 'x-purpose': purpose },
  });
}

/** Lifts a restriction request (Art. 18(3)), as the DPO does. */
export async function liftRestriction(t: TestApp, requestId: string) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/subject-requests/${requestId}/lift-restriction`,
    headers: bearer(await t.token('dpo')),
  });
}
