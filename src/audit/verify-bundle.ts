import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import {
  type AuditBundleHeader,
  bundledEventSchema,
  bundleHeaderSchema,
  checkpointSchema,
  type ExportStatement,
  exportStatementSchema,
  exportStatementType,
  unsignedRangeBundleFormat,
  unsignedRangeFormatEnd,
} from './audit-bundle';
import { canonicalLeaf, type LoggedEvent } from './canonical-event';
import { type CheckpointPayload, checkpointType, logName } from './checkpoint';
import { leafHash, rootFromRangeProof, verifyConsistency } from './merkle';

/**
 * The offline verifier: needs the bundle, the public keys and optionally a checkpoint the auditor kept
 * from an earlier visit; never the service. It stops at the first problem and names its position.
 */
export class VerificationError extends Error {
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(position === undefined ? message : `position ${position}: ${message}`);
    this.name = 'VerificationError';
  }
}

export interface VerificationSummary {
  treeSize: number;
  rootHash: string;
  signedAt: string;
  keyId: string;
  range: { start: number; end: number };
  /**
   * The time window the service signed that it exported (null bounds: the whole log); null for a
   * bundle of the format before export statements, whose range nothing signs.
   */
  window: ExportStatement['window'] | null;
  events: number;
  /** Tree size of the kept checkpoint the log was shown to extend, when one was given. */
  consistentWith?: number;
}

const payloadSchema = z.object({
  log: z.literal(logName),
  treeSize: z.number().int().nonnegative(),
  rootHash: z.string().regex(/^[0-9a-f]{64}$/),
  signedAt: z.string(),
});

const hashes = (hex: readonly string[]) => hex.map((value) => Buffer.from(value, 'hex'));

/** Checks a JWS of `typ` against the keys and returns its payload as parsed by `schema`, and its key id. */
async function verifySigned<T>(
  jws: string,
  jwks: JSONWebKeySet,
  typ: string,
  schema: z.ZodType<T>,
  what: { name: string; kind: string },
): Promise<{ payload: T; keyId: string }> {
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
  } catch {
    throw new VerificationError(`the ${what.name} signature does not verify with the given keys`);
  }
  if (verified.protectedHeader.typ !== typ) {
    throw new VerificationError(`the ${what.name} signature is not over an ${what.kind}`);
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    decoded = undefined;
  }
  const payload = schema.safeParse(decoded);
  if (!payload.success) throw new VerificationError(`the ${what.name} signed payload is not an ${what.kind}`);
  return { payload: payload.data, keyId: String(verified.protectedHeader.kid ?? '') };
}

/** Checks a checkpoint's signature and returns what it signs; the unsigned fields must agree with it. */
export async function verifyCheckpoint(
  checkpoint: unknown,
  jwks: JSONWebKeySet,
  name = 'checkpoint',
): Promise<CheckpointPayload & { keyId: string }> {
  const parsed = checkpointSchema.safeParse(checkpoint);
  if (!parsed.success) throw new VerificationError(`the ${name} is not a checkpoint`);
  const { payload, keyId } = await verifySigned(parsed.data.jws, jwks, checkpointType, payloadSchema, {
    name,
    kind: 'audit checkpoint',
  });
  if (payload.treeSize !== parsed.data.treeSize || payload.rootHash !== parsed.data.rootHash) {
    throw new VerificationError(`the ${name} tree size or root hash differs from what is signed`);
  }
  return { ...payload, keyId };
}

/**
 * The service's statement of what it exported must be signed by a trusted key and match the bundle:
 * the same checkpoint, the same range. A bundle cut short (events dropped at either end, the range and
 * its proof rebuilt from the leaf hashes) no longer matches it.
 */
async function verifyExportStatement(
  header: AuditBundleHeader,
  signed: CheckpointPayload,
  jwks: JSONWebKeySet,
): Promise<ExportStatement | null> {
  if (header.format === unsignedRangeBundleFormat) {
    if (new Date(signed.signedAt).getTime() >= Date.parse(unsignedRangeFormatEnd)) {
      throw new VerificationError(
        `a ${unsignedRangeBundleFormat} bundle on a checkpoint signed after ${unsignedRangeFormatEnd}, when no release wrote that format any more: its export statement was removed`,
      );
    }
    return null;
  }
  if (header.exportStatement === undefined) {
    throw new VerificationError(
      `a ${header.format} bundle must carry the export statement the service signed`,
    );
  }
  const { payload } = await verifySigned(
    header.exportStatement,
    jwks,
    exportStatementType,
    exportStatementSchema,
    {
      name: 'export statement',
      kind: 'audit export statement',
    },
  );
  if (
    payload.log !== signed.log ||
    payload.treeSize !== signed.treeSize ||
    payload.rootHash !== signed.rootHash ||
    payload.exportedAt !== header.exportedAt
  ) {
    throw new VerificationError('the export statement was signed for another checkpoint or export');
  }
  if (payload.range.start !== header.range.start || payload.range.end !== header.range.end) {
    throw new VerificationError(
      `the bundle claims positions ${header.range.start}..${header.range.end} but the service exported ${payload.range.start}..${payload.range.end}: events were cut off`,
    );
  }
  return payload;
}

async function verifyConsistencyWithKept(
  header: AuditBundleHeader,
  signed: CheckpointPayload,
  kept: unknown,
  jwks: JSONWebKeySet,
): Promise<number> {
  const old = await verifyCheckpoint(kept, jwks, 'kept checkpoint');
  if (old.treeSize > signed.treeSize) {
    throw new VerificationError(
      `the log was truncated: the kept checkpoint covers ${old.treeSize} positions, this one only ${signed.treeSize}`,
      signed.treeSize,
    );
  }
  const consistency = header.consistency;
  if (old.treeSize !== signed.treeSize && consistency?.fromTreeSize !== old.treeSize) {
    throw new VerificationError(
      `the bundle has no consistency proof from tree size ${old.treeSize}; export it with since=${old.treeSize}`,
    );
  }
  const proof = old.treeSize === signed.treeSize ? [] : hashes(consistency?.proof ?? []);
  const consistent =
    (old.treeSize === signed.treeSize || consistency?.toTreeSize === signed.treeSize) &&
    verifyConsistency(
      old.treeSize,
      signed.treeSize,
      Buffer.from(old.rootHash, 'hex'),
      Buffer.from(signed.rootHash, 'hex'),
      proof,
    );
  if (!consistent) {
    throw new VerificationError(
      `the log is not an extension of the kept checkpoint (tree size ${old.treeSize}): history was rewritten`,
    );
  }
  return old.treeSize;
}

/** Throws a VerificationError on the first problem; returns what was proven otherwise. */
export async function verifyBundle(
  bundle: unknown,
  options: { jwks?: JSONWebKeySet; since?: unknown } = {},
): Promise<VerificationSummary> {
  const parsedHeader = bundleHeaderSchema.safeParse(bundle);
  if (!parsedHeader.success) {
    const issue = parsedHeader.error.issues[0];
    throw new VerificationError(`not an audit bundle (${issue?.path.join('.')}: ${issue?.message})`);
  }
  const header = parsedHeader.data;
  const jwks = options.jwks ?? (header.jwks as JSONWebKeySet);
  const signed = await verifyCheckpoint(header.checkpoint, jwks);
  const consistentWith =
    options.since === undefined
      ? undefined
      : await verifyConsistencyWithKept(header, signed, options.since, jwks);

  const statement = await verifyExportStatement(header, signed, jwks);
  const { start, end } = header.range;
  if (start > end || end > signed.treeSize) {
    throw new VerificationError(
      `the range ${start}..${end} lies outside the signed tree of ${signed.treeSize}`,
    );
  }
  const rawEvents = (bundle as { events?: unknown }).events;
  if (!Array.isArray(rawEvents)) throw new VerificationError('the bundle has no events list');

  const loggedLeaves: Buffer[] = [];
  for (const [offset, raw] of rawEvents.entries()) {
    const expected = start + offset;
    if (expected >= end) throw new VerificationError('an event beyond the range of the bundle', expected);
    const parsed = bundledEventSchema.safeParse(raw);
    if (!parsed.success) throw new VerificationError('the event is malformed', expected);
    const { position } = parsed.data;
    if (position > expected) throw new VerificationError('the event is missing (removed)', expected);
    if (position < expected)
      throw new VerificationError(`out of order: found position ${position} here`, expected);
    const logged = Buffer.from(parsed.data.leafHash, 'hex');
    // The event as it stands in the file, not as parsed: parsing drops members such as a `__proto__`
    // key inside details, which would then escape the hash.
    const asWritten = (raw as { event: LoggedEvent }).event;
    if (!leafHash(canonicalLeaf(asWritten)).equals(logged)) {
      throw new VerificationError('the event differs from the one logged (edited)', position);
    }
    loggedLeaves.push(logged);
  }
  if (rawEvents.length < end - start) {
    throw new VerificationError('the event is missing: the bundle is truncated', start + rawEvents.length);
  }

  if (end > start) {
    const root = rootFromRangeProof(header.range, signed.treeSize, loggedLeaves, hashes(header.rangeProof));
    if (!root?.equals(Buffer.from(signed.rootHash, 'hex'))) {
      throw new VerificationError(
        `the leaves of positions ${start}..${end - 1} do not rebuild the signed root: leaf hashes, their order or the proof were altered`,
      );
    }
  }
  return {
    treeSize: signed.treeSize,
    rootHash: signed.rootHash,
    signedAt: signed.signedAt,
    keyId: signed.keyId,
    range: header.range,
    window: statement?.window ?? null,
    events: rawEvents.length,
    consistentWith,
  };
}
