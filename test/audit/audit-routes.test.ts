import fc from 'fast-check';
import type { JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuditBundle } from '../../src/audit/audit-bundle';
import { canonicalLeaf } from '../../src/audit/canonical-event';
import {
  leafHash,
  rangeProofRanges,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle';
import { recordAuditEvent } from '../../src/audit/record-audit-event';
import { runSequencerOnce } from '../../src/audit/sequencer';
import { VerificationError, verifyBundle } from '../../src/audit/verify-bundle';
import { createSigner } from '../../src/signing/signing-key';
import { bearer, createTestApp, type TestApp } from '../support/test-app';

describe('audit routes', () => {
  let t: TestApp;
  let auditor: string;
  let jwks: JSONWebKeySet;
  beforeAll(async () => {
    t = await createTestApp();
    auditor = await t.token('auditor', { sub: 'auditor-1' });
    jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
  });

  const sequence = () => runSequencerOnce(t.database, t.app.signer);
  const get = async (url: string, token = auditor) => t.app.inject({ url, headers: bearer(token) });
  const exportBundle = async (query = '') => (await get(`/v1/audit/export${query}`)).json() as AuditBundle;

  async function record(count: number, action = 'test.action', actor = 'svc-a') {
    for (let i = 0; i < count; i++) {
      await recordAuditEvent(
        t.database.db,
        { requestId: `req-${i}` },
        { action, actor, outcome: 'success', targetType: 'return', targetId: `ret-${i}`, details: { n: i } },
      );
    }
  }

  it('refuses callers without audit:read, and records the refusal', async () => {
    expect((await t.app.inject({ url: '/v1/audit/events' })).statusCode).toBe(401);
    for (const url of [
      '/v1/audit/events',
      '/v1/audit/checkpoint',
      '/v1/audit/export',
      '/v1/audit/proofs/inclusion?position=0',
    ]) {
      const response = await get(url, await t.token('dpo'));
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ code: 'forbidden', requiredScopes: ['audit:read'] });
    }
    const [denials] = await t.database
      .sql`select count(*)::int as n from audit_events where action = 'auth.denied'`;
    expect(denials?.n).toBe(5);
  });

  it('answers 404 before any checkpoint is signed', async () => {
    expect((await get('/v1/audit/checkpoint')).json()).toMatchObject({
      status: 404,
      code: 'audit_not_sequenced',
    });
  });

  it('streams events as NDJSON and CSV, filtered by actor, action and time', async () => {
    await record(3, 'test.listed', 'svc-list');
    await record(2, 'test.other', 'svc-list');
    await sequence();
    await record(1, 'test.listed', 'svc-list');

    const ndjson = await get('/v1/audit/events?actor=svc-list&action=test.listed');
    expect(ndjson.statusCode).toBe(200);
    expect(ndjson.headers['content-type']).toContain('application/x-ndjson');
    const lines = ndjson.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({
      actor: 'svc-list',
      action: 'test.listed',
      targetId: 'ret-0',
      outcome: 'success',
    });
    expect(Object.keys(lines[0])).toEqual(
      expect.arrayContaining([
        'position',
        'eventId',
        'occurredAt',
        'actorScopes',
        'subjectRef',
        'purpose',
        'requestId',
        'details',
      ]),
    );
    expect(lines.slice(0, 3).every((line) => Number.isInteger(line.position))).toBe(true);
    expect(lines[3].position).toBeNull();
    expect(lines[0].occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await get(`/v1/audit/events?from=${encodeURIComponent(future)}`)).body).toBe('');

    const csv = await get('/v1/audit/events?actor=svc-list&format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows = csv.body.trimEnd().split('\r\n');
    expect(rows[0]).toBe(
      'position,eventId,occurredAt,actor,actorScopes,clientId,action,targetType,targetId,subjectRef,purpose,outcome,requestId,details',
    );
    expect(rows).toHaveLength(7);
    expect(rows[1]).toContain(',svc-list,,,test.listed,return,ret-0,,,success,req-0,"{""n"":0}"');

    expect((await get('/v1/audit/events?format=xml')).statusCode).toBe(400);
    expect((await get('/v1/audit/events?from=yesterday')).statusCode).toBe(400);
  });

  it('serves the latest checkpoint and proofs that verify against it', async () => {
    await record(4);
    await sequence();
    const checkpoint = (await get('/v1/audit/checkpoint')).json();
    expect(checkpoint.treeSize).toBeGreaterThan(5);
    const root = Buffer.from(checkpoint.rootHash, 'hex');

    for (const position of [0, 3, checkpoint.treeSize - 1]) {
      const proof = (await get(`/v1/audit/proofs/inclusion?position=${position}`)).json();
      expect(proof.treeSize).toBe(checkpoint.treeSize);
      expect(proof.rootHash).toBe(checkpoint.rootHash);
      const path = proof.proof.map((hash: string) => Buffer.from(hash, 'hex'));
      expect(verifyInclusion(position, proof.treeSize, Buffer.from(proof.leafHash, 'hex'), path, root)).toBe(
        true,
      );
    }
    const older = (await get('/v1/audit/proofs/inclusion?position=1&treeSize=3')).json();
    expect(older.treeSize).toBe(3);

    const consistency = (await get('/v1/audit/proofs/consistency?from=3')).json();
    expect(
      verifyConsistency(
        3,
        checkpoint.treeSize,
        Buffer.from(consistency.fromRootHash, 'hex'),
        root,
        consistency.proof.map((hash: string) => Buffer.from(hash, 'hex')),
      ),
    ).toBe(true);

    expect((await get(`/v1/audit/proofs/inclusion?position=${checkpoint.treeSize}`)).statusCode).toBe(404);
    expect((await get(`/v1/audit/proofs/consistency?from=1&to=${checkpoint.treeSize + 1}`)).statusCode).toBe(
      404,
    );
    expect((await get('/v1/audit/proofs/consistency?from=5&to=2')).statusCode).toBe(400);
    expect((await get('/v1/audit/proofs/inclusion?position=-1')).statusCode).toBe(400);
  });

  it('exports a bundle that verifies offline, alone and against a kept checkpoint', async () => {
    const kept = (await get('/v1/audit/checkpoint')).json();
    await record(5);
    await sequence();
    const response = await get(`/v1/audit/export?since=${kept.treeSize}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toContain('attachment');
    const bundle = response.json() as AuditBundle;
    expect(bundle.range).toEqual({ start: 0, end: bundle.checkpoint.treeSize });
    expect(bundle.events.map((event) => event.position)).toEqual(
      Array.from({ length: bundle.checkpoint.treeSize }, (_, i) => i),
    );
    const summary = await verifyBundle(bundle, { jwks, since: kept });
    expect(summary).toMatchObject({ treeSize: bundle.checkpoint.treeSize, consistentWith: kept.treeSize });

    // A field added to an event is outside its leaf hash: refused, not silently dropped.
    const padded = structuredClone(bundle) as unknown as { events: { event: Record<string, unknown> }[] };
    padded.events[1]!.event.approvedBy = 'the DPO';
    await expect(verifyBundle(padded, { jwks })).rejects.toThrow(VerificationError);

    // A time window exports the positions between its first and last event, with a range proof.
    const [window] = await t.database.sql`
      select to_char(min(occurred_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as from
        from audit_events where action = 'test.listed'`;
    const windowed = await exportBundle(`?from=${encodeURIComponent(window?.from)}`);
    expect(windowed.range.start).toBeGreaterThan(0);
    expect(windowed.rangeProof.length).toBeGreaterThan(0);
    expect(await verifyBundle(windowed, { jwks })).toMatchObject({
      range: windowed.range,
      window: { from: window?.from, to: null },
    });

    const [exported] = await t.database
      .sql`select count(*)::int as n from audit_events where action = 'audit.exported'`;
    expect(exported?.n).toBe(2);
  });

  it('streams and exports logs of several pages, each event once and in order', async () => {
    // 2,345 events (pages are 1,000 rows), the last 345 not yet sequenced when the stream is read.
    const bulk = (count: number, offset: number) => t.database.sql`
      insert into audit_events (actor, action, outcome, request_id, details)
      select 'svc-bulk', case when g % 3 = 0 then 'test.bulk-third' else 'test.bulk' end, 'success',
        'req-' || g, jsonb_build_object('g', g)
        from generate_series(${offset}::int, ${offset + count - 1}::int) as g`;
    await bulk(2000, 0);
    await sequence();
    await bulk(345, 2000);

    const expected = await t.database.sql<{ eventId: string; action: string }[]>`
      select event_id::text as "eventId", action from audit_events where actor = 'svc-bulk' order by id`;
    const ndjson = await get('/v1/audit/events?actor=svc-bulk');
    const lines = ndjson.body.split('\n');
    expect(lines.pop()).toBe('');
    const events = lines.map((line) => JSON.parse(line));
    expect(events.map((event) => event.eventId)).toEqual(expected.map((row) => row.eventId));
    expect(events.filter((event) => event.position === null)).toHaveLength(345);

    const thirds = await get('/v1/audit/events?actor=svc-bulk&action=test.bulk-third');
    expect(thirds.body.trimEnd().split('\n')).toHaveLength(
      expected.filter((row) => row.action === 'test.bulk-third').length,
    );
    const csv = await get('/v1/audit/events?actor=svc-bulk&format=csv');
    expect(csv.body.trimEnd().split('\r\n')).toHaveLength(2346);

    const everything = (await get('/v1/audit/events')).body.trimEnd().split('\n');
    const [all] = await t.database.sql`select count(*)::int as n from audit_events`;
    expect(everything).toHaveLength(all?.n);

    await sequence();
    const bundle = await exportBundle();
    expect(bundle.events.map((event) => event.position)).toEqual(
      Array.from({ length: bundle.checkpoint.treeSize }, (_, i) => i),
    );
    expect(await verifyBundle(bundle, { jwks })).toMatchObject({ events: bundle.checkpoint.treeSize });
  });

  it('catches a direct SQL edit made with the triggers disabled, naming the position', async () => {
    await sequence();
    const [victim] = await t.database.sql`
      select l.position::int as position, e.id from audit_log_entries l join audit_events e on e.id = l.audit_event_id
       where e.action = 'test.other' order by l.position limit 1`;
    expect((await verifyBundle(await exportBundle(), { jwks })).events).toBeGreaterThan(0);
    await t.database.sql.begin(async (tx) => {
      await tx`alter table audit_events disable trigger all`;
      await tx`update audit_events set outcome = 'failure', details = '{"n": 42}' where id = ${victim?.id}`;
      await tx`alter table audit_events enable trigger all`;
      await tx`alter table audit_events enable always trigger audit_events_no_update_delete`;
      await tx`alter table audit_events enable always trigger audit_events_no_truncate`;
    });
    const tampered = await exportBundle();
    await expect(verifyBundle(tampered, { jwks })).rejects.toThrow(
      new VerificationError('the event differs from the one logged (edited)', victim?.position),
    );
  });

  it('catches an event deleted in SQL with the triggers disabled, as a gap at its position', async () => {
    const [first] = await t.database.sql`
      select audit_event_id as id from audit_log_entries where position = 0`;
    await t.database.sql.begin(async (tx) => {
      await tx`alter table audit_events disable trigger all`;
      await tx`delete from audit_events where id = ${first?.id}`;
      await tx`alter table audit_events enable trigger all`;
      await tx`alter table audit_events enable always trigger audit_events_no_update_delete`;
      await tx`alter table audit_events enable always trigger audit_events_no_truncate`;
    });
    const response = await get('/v1/audit/export');
    expect(response.statusCode).toBe(200);
    await expect(verifyBundle(response.json(), { jwks })).rejects.toThrow(
      new VerificationError('the event is missing (removed)', 0),
    );
  });
});

describe('audit bundle verification (properties)', () => {
  let t: TestApp;
  let bundle: AuditBundle;
  let jwks: JSONWebKeySet;
  beforeAll(async () => {
    t = await createTestApp();
    for (let i = 0; i < 23; i++) {
      await recordAuditEvent(
        t.database.db,
        { requestId: `req-${i}` },
        {
          action: `test.p${i % 4}`,
          outcome: 'success',
          targetType: 'return',
          targetId: `ret-${i}`,
          // Values whose JSON text PostgreSQL may rewrite: the leaf must survive the round trip.
          details:
            i % 5 === 0
              ? { i, ratio: 1.5, nested: { z: ['é', null, true], a: -0.25 }, big: 12345678901 }
              : { i },
        },
      );
    }
    await runSequencerOnce(t.database, t.app.signer);
    const auditor = await t.token('auditor');
    bundle = (await t.app.inject({ url: '/v1/audit/export', headers: bearer(auditor) })).json();
    jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
  });

  const copy = () => structuredClone(bundle);
  const fails = async (candidate: unknown) => {
    try {
      await verifyBundle(candidate, { jwks });
    } catch (error) {
      expect(error).toBeInstanceOf(VerificationError);
      return (error as VerificationError).position;
    }
    throw new Error('the altered bundle verified');
  };

  it('accepts the untouched bundle', async () => {
    expect(await verifyBundle(bundle, { jwks })).toMatchObject({ events: 23, treeSize: 23 });
  });

  it('detects any edit of any field of any event, at its position', async () => {
    const fields = [
      'eventId',
      'occurredAt',
      'actor',
      'action',
      'targetId',
      'outcome',
      'requestId',
      'details',
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(22),
        fc.constantFrom(...fields),
        fc.string({ minLength: 1 }),
        async (position, field, value) => {
          const altered = copy();
          const event = altered.events[position]?.event as Record<string, unknown>;
          const replacement = field === 'details' ? { i: value } : `${String(event[field])}${value}`;
          event[field] = replacement;
          expect(await fails(altered)).toBe(position);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('detects removal, reordering and truncation, naming the first bad position', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(22), fc.nat(22), async (a, b) => {
        const removed = copy();
        removed.events.splice(a, 1);
        expect(await fails(removed)).toBe(a);

        const truncated = copy();
        truncated.events.length = a;
        expect(await fails(truncated)).toBe(a);

        if (a !== b) {
          const reordered = copy();
          const [first, second] = [reordered.events[a], reordered.events[b]];
          reordered.events[a] = second as never;
          reordered.events[b] = first as never;
          expect(await fails(reordered)).toBe(Math.min(a, b));

          // Renumbered to look contiguous, with the leaf hashes moved along: only the root can tell.
          const renumbered = copy();
          const swapped = renumbered.events;
          [swapped[a], swapped[b]] = [swapped[b] as never, swapped[a] as never];
          swapped.forEach((event, index) => {
            event.position = index;
          });
          await fails(renumbered);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('detects a forged leaf hash, a missing range proof and a bad signature', async () => {
    const forgedLeaf = copy();
    const event = forgedLeaf.events[5];
    if (!event) throw new Error('no event');
    event.event.actor = 'someone-else';
    event.leafHash = leafHash(Buffer.from('x')).toString('hex');
    expect(await fails(forgedLeaf)).toBe(5);
    // Edited with a matching leaf hash: the leaves no longer rebuild the signed root.
    event.leafHash = leafHash(canonicalLeaf(event.event)).toString('hex');
    await expect(verifyBundle(forgedLeaf, { jwks })).rejects.toThrow(
      /positions 0\.\.22 do not rebuild the signed root/,
    );

    const windowed = copy();
    windowed.range = { start: 2, end: 23 };
    windowed.events = windowed.events.slice(2);
    // The range is not the one the service signed that it exported.
    await expect(verifyBundle(windowed, { jwks })).rejects.toThrow(/events were cut off/);

    const resigned = copy();
    resigned.checkpoint.rootHash = 'a'.repeat(64);
    await expect(verifyBundle(resigned, { jwks })).rejects.toThrow(/differs from what is signed/);
    const badSignature = copy();
    const [head, payload, signature] = badSignature.checkpoint.jws.split('.');
    badSignature.checkpoint.jws = `${head}.${payload}.${signature?.slice(0, -4)}AAAA`;
    await expect(verifyBundle(badSignature, { jwks })).rejects.toThrow(/signature does not verify/);
    const otherKeys = { keys: [{ ...jwks.keys[0], x: Buffer.alloc(32, 7).toString('base64url') }] };
    await expect(verifyBundle(bundle, { jwks: otherKeys })).rejects.toThrow(/signature does not verify/);
  });

  it('detects a bundle cut short at either end with its range proof rebuilt from the leaf hashes', async () => {
    const leaves = bundle.events.map((item) => Buffer.from(item.leafHash, 'hex'));
    const cutTo = (start: number, end: number) => {
      const cut = copy();
      cut.range = { start, end };
      cut.events = cut.events.slice(start, end);
      // Everything the range proof needs is in an unfiltered bundle: the cut is consistent on its own.
      cut.rangeProof =
        end > start
          ? rangeProofRanges(cut.range, bundle.checkpoint.treeSize).map((range) =>
              rootFromLeafHashes(leaves, range.start, range.end).toString('hex'),
            )
          : [];
      return cut;
    };
    for (const [start, end] of [
      [0, 20],
      [3, 23],
      [5, 9],
    ] as const) {
      await expect(verifyBundle(cutTo(start, end), { jwks })).rejects.toThrow(/events were cut off/);
    }
    const emptied = cutTo(0, 0);
    await expect(verifyBundle(emptied, { jwks })).rejects.toThrow(/events were cut off/);

    // The statement signed again by a key the auditor does not trust, or taken from another export.
    const stranger = await createSigner(
      (await import('node:crypto'))
        .generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    );
    const [, payload] = bundle.exportStatement!.split('.');
    const statement = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const resigned = cutTo(0, 20);
    resigned.exportStatement = await stranger.sign(
      { ...statement, range: resigned.range },
      'returnvault-audit-export+jws',
    );
    await expect(verifyBundle(resigned, { jwks })).rejects.toThrow(
      /export statement signature does not verify/,
    );
    const relabelled = copy();
    relabelled.exportedAt = new Date().toISOString();
    await expect(verifyBundle(relabelled, { jwks })).rejects.toThrow(
      /signed for another checkpoint or export/,
    );
    const checkpointSigned = copy();
    checkpointSigned.exportStatement = checkpointSigned.checkpoint.jws;
    await expect(verifyBundle(checkpointSigned, { jwks })).rejects.toThrow(
      /not over an audit export statement/,
    );
  });

  it('still verifies a bundle of the format before export statements, saying its range is unsigned', async () => {
    // A /1 bundle as the service wrote it: no statement, on a checkpoint signed at `signedAt`.
    const asFormatOne = async (signedAt: string) => {
      const payload = {
        log: 'returnvault-audit',
        treeSize: bundle.checkpoint.treeSize,
        rootHash: bundle.checkpoint.rootHash,
        signedAt,
      };
      const older = copy();
      older.format = 'returnvault-audit-bundle/1' as AuditBundle['format'];
      delete older.exportStatement;
      older.checkpoint = {
        ...older.checkpoint,
        signedAt,
        jws: await t.app.signer.sign(payload, 'returnvault-audit-checkpoint+jws'),
      };
      return older;
    };
    expect(await verifyBundle(await asFormatOne('2026-11-20T10:00:00.000Z'), { jwks })).toMatchObject({
      events: 23,
      window: null,
    });
    // On a checkpoint signed once no release wrote /1 any more: a /2 bundle stripped of its statement.
    await expect(verifyBundle(await asFormatOne('2027-01-05T10:00:00.000Z'), { jwks })).rejects.toThrow(
      /its export statement was removed/,
    );
    const missing = copy();
    delete missing.exportStatement;
    await expect(verifyBundle(missing, { jwks })).rejects.toThrow(/must carry the export statement/);
  });

  it('refuses a member hidden in the details as __proto__, which parsing would drop', async () => {
    const text = JSON.stringify(bundle).replace(
      '"details":{"i":3}',
      '"details":{"i":3,"__proto__":{"purpose":"legal_claims"}}',
    );
    expect(text).toContain('__proto__');
    expect(await fails(JSON.parse(text))).toBe(3);
  });

  it('detects a log truncated below a checkpoint the auditor kept', async () => {
    await expect(verifyBundle(bundle, { jwks, since: bundle.checkpoint })).resolves.toMatchObject({
      consistentWith: 23,
    });
    await recordAuditEvent(t.database.db, {}, { action: 'test.more', outcome: 'success' });
    const { checkpoint: kept } = await runSequencerOnce(t.database, t.app.signer);
    await expect(verifyBundle(bundle, { jwks, since: kept })).rejects.toThrow(
      new VerificationError(
        `the log was truncated: the kept checkpoint covers ${kept?.treeSize} positions, this one only 23`,
        23,
      ),
    );
  });
});
