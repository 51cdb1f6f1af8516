import { z } from 'zod';
import { loggedEventSchema } from './canonical-event';

/**
 * The export bundle an auditor keeps and checks offline with `returnvault audit verify`: the events of
 * a contiguous range of positions with the leaf hash the sequencer logged for each, a signed
 * checkpoint, the range proof that ties those leaves to the checkpoint's root, optionally a
 * consistency proof from an earlier checkpoint, and the public keys.
 */
export const bundleFormat = 'returnvault-audit-bundle/2';
/**
 * Bundles exported before the export statement existed: still verified, event by event against the
 * signed root, but nothing signs their range, so one cut short at either end cannot be told apart.
 */
export const unsignedRangeBundleFormat = 'returnvault-audit-bundle/1';
/**
 * No release of the service wrote that format after this date: a /1 bundle on a checkpoint signed
 * later is a /2 bundle stripped of its statement (to hide a cut), and is refused.
 */
export const unsignedRangeFormatEnd = '2026-11-27T02:40:00.000Z';

/** Names what an export statement JWS is, so it cannot pass for a checkpoint or a certificate. */
export const exportStatementType = 'returnvault-audit-export+jws';

const hexHash = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hash in lower-case hex');
const size = z.number().int().nonnegative();

export const checkpointSchema = z.object({
  treeSize: size,
  rootHash: hexHash,
  signedAt: z.string(),
  keyId: z.string(),
  jws: z.string(),
});

export const bundledEventSchema = z.strictObject({
  position: size,
  leafHash: hexHash,
  event: loggedEventSchema,
});

export const consistencySchema = z.object({
  fromTreeSize: size,
  toTreeSize: size,
  proof: z.array(hexHash),
});

export const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

/** Everything but the events, which are checked one by one so a bad one is named by its position. */
export const bundleHeaderSchema = z.object({
  format: z.enum([bundleFormat, unsignedRangeBundleFormat]),
  exportedAt: z.string(),
  checkpoint: checkpointSchema,
  jwks: jwksSchema,
  /** Positions [start, end) of the bundled events; the whole log up to the checkpoint when unfiltered. */
  range: z.object({ start: size, end: size }),
  /** Hashes of the tree nodes outside the range, in the order rootFromRangeProof consumes them. */
  rangeProof: z.array(hexHash),
  consistency: consistencySchema.optional(),
  /**
   * A JWS of the service over what was exported (ExportStatement): the range and the time window are
   * not covered by the checkpoint, so without it a bundle cut short at either end would still verify.
   */
  exportStatement: z.string().optional(),
});

/** What an export statement signs: the checkpoint it is cut from, the range, the window asked for. */
export const exportStatementSchema = z.strictObject({
  log: z.string(),
  exportedAt: z.string(),
  treeSize: size,
  rootHash: hexHash,
  range: z.strictObject({ start: size, end: size }),
  /** The time window the export was asked for; null bounds: the whole log up to the checkpoint. */
  window: z.strictObject({ from: z.string().nullable(), to: z.string().nullable() }),
});

export type ExportStatement = z.infer<typeof exportStatementSchema>;

export const bundleSchema = bundleHeaderSchema.extend({ events: z.array(bundledEventSchema) });

export type AuditBundleHeader = z.infer<typeof bundleHeaderSchema>;
export type AuditBundle = z.infer<typeof bundleSchema>;
export type BundledEvent = z.infer<typeof bundledEventSchema>;
