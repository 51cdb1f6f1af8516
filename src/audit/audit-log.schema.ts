import { sql } from 'drizzle-orm';
import { bigint, check, pgTable, primaryKey, smallint, text, timestamp } from 'drizzle-orm/pg-core';
import { bytea } from '../db/bytea';
import { auditEvents, xid8 } from './audit-events.schema';

/**
 * Log positions, assigned by the sequencer in commit order: contiguous from 0, one per event. Kept
 * apart from `audit_events` because that table is never updated. Append-only like the events.
 */
export const auditLogEntries = pgTable('audit_log_entries', {
  position: bigint('position', { mode: 'number' }).primaryKey(),
  auditEventId: bigint('audit_event_id', { mode: 'number' })
    .notNull()
    .unique()
    .references(() => auditEvents.id),
  /** SHA-256(0x00 || canonical leaf), RFC 9162. */
  leafHash: bytea('leaf_hash').notNull(),
});

/**
 * Hashes of the complete (perfect) subtrees of height >= 1, node `index` at `level` covering
 * positions [index * 2^level, (index + 1) * 2^level). Any RFC 9162 proof is assembled from
 * O(log n) of them; leaves (level 0) are in `audit_log_entries`.
 */
export const auditTreeNodes = pgTable(
  'audit_tree_nodes',
  {
    level: smallint('level').notNull(),
    index: bigint('index', { mode: 'number' }).notNull(),
    hash: bytea('hash').notNull(),
  },
  (table) => [primaryKey({ columns: [table.level, table.index] })],
);

/** Signed tree heads: the root hash of the first `tree_size` positions, signed as a compact JWS. */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  treeSize: bigint('tree_size', { mode: 'number' }).primaryKey(),
  rootHash: bytea('root_hash').notNull(),
  signedAt: timestamp('signed_at', { withTimezone: true, mode: 'date' }).notNull(),
  keyId: text('key_id').notNull(),
  jws: text('jws').notNull(),
});

/**
 * The sequencer's one row: every event written by a transaction with an id below `horizon` has a
 * position; `tree_size` is the number of positions assigned.
 */
export const auditSequencerState = pgTable(
  'audit_sequencer_state',
  {
    id: smallint('id').primaryKey().default(1),
    horizon: xid8('horizon').notNull().default(sql`'0'::xid8`),
    treeSize: bigint('tree_size', { mode: 'number' }).notNull().default(0),
  },
  (table) => [check('audit_sequencer_state_single_row', sql`${table.id} = 1`)],
);

export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
