import type postgres from 'postgres';
import type { z } from 'zod';
import type { checkpointSchema } from './audit-bundle';
import {
  type FrontierNode,
  foldPerfectHashes,
  type LeafRange,
  type PerfectNode,
  perfectNodesOf,
} from './merkle';

/** Anything that runs a query: the pool or an open transaction. */
export type Queryable = postgres.Sql | postgres.TransactionSql;

/** A signed tree head: the root hash (hex) of positions [0, treeSize) and its compact JWS. */
export type Checkpoint = z.infer<typeof checkpointSchema>;

const nodeKey = (node: PerfectNode) => `${node.level}:${node.index}`;

/** Hashes of complete subtrees: leaves from the positions, higher levels from the node table. */
export async function fetchPerfectNodes(sql: Queryable, nodes: PerfectNode[]): Promise<Map<string, Buffer>> {
  const leaves = nodes.filter((node) => node.level === 0).map((node) => node.index);
  const inner = nodes.filter((node) => node.level > 0);
  const rows = await sql<{ level: number; index: string; hash: Buffer }[]>`
    select 0 as level, position::text as index, leaf_hash as hash
      from audit_log_entries where position = any(${leaves}::bigint[])
    union all
    select n.level, n.index::text, n.hash from audit_tree_nodes n
      join unnest(${inner.map((node) => node.level)}::smallint[], ${inner.map((node) => node.index)}::bigint[])
        as wanted(level, index) on n.level = wanted.level and n.index = wanted.index`;
  const found = new Map(rows.map((row) => [`${row.level}:${row.index}`, row.hash]));
  const missing = nodes.find((node) => !found.has(nodeKey(node)));
  if (missing) throw new Error(`audit tree node ${nodeKey(missing)} is missing`);
  return found;
}

/** The hash of the tree node over each range, fetched with one query. */
export async function rangeHashes(sql: Queryable, ranges: LeafRange[]): Promise<Buffer[]> {
  const perRange = ranges.map(perfectNodesOf);
  const found = await fetchPerfectNodes(sql, perRange.flat());
  return perRange.map((nodes) => foldPerfectHashes(nodes.map((node) => found.get(nodeKey(node)) as Buffer)));
}

/** The complete subtrees of the tree of `treeSize` leaves, largest first, to keep appending. */
export async function loadFrontier(sql: Queryable, treeSize: number): Promise<FrontierNode[]> {
  const nodes = perfectNodesOf({ start: 0, end: treeSize });
  const found = await fetchPerfectNodes(sql, nodes);
  return nodes.map((node) => ({ ...node, hash: found.get(nodeKey(node)) as Buffer }));
}

const checkpointColumns = (sql: Queryable) =>
  sql`tree_size::int8 as "treeSize", encode(root_hash, 'hex') as "rootHash",
      to_char(signed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "signedAt",
      key_id as "keyId", jws`;

function toCheckpoint(row: Record<string, unknown>): Checkpoint {
  return { ...(row as unknown as Checkpoint), treeSize: Number(row.treeSize) };
}

export async function latestCheckpoint(sql: Queryable): Promise<Checkpoint | undefined> {
  const [row] =
    await sql`select ${checkpointColumns(sql)} from audit_checkpoints order by tree_size desc limit 1`;
  return row ? toCheckpoint(row) : undefined;
}
