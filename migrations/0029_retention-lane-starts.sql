ALTER TABLE "retention_run_rules" ADD COLUMN "lane_starts" text[];--> statement-breakpoint
-- Rules that committed batches before lane starts were recorded had their lanes cut evenly over the
-- uuid key space: lane i of n began at the key whose first 32 bits are floor(i * 2^32 / n). They keep
-- those ranges, so a resumed lane goes on after its own recorded key.
UPDATE "retention_run_rules" AS rule SET "lane_starts" = (
  SELECT coalesce(array_agg(lpad(to_hex((lane * 4294967296 / run.lanes)::bigint), 8, '0')
    || '-0000-0000-0000-000000000000' ORDER BY lane), '{}'::text[])
  FROM generate_series(1, run.lanes - 1) AS lane
)
FROM "retention_runs" AS run
WHERE run.id = rule.run_id AND cardinality(rule.lane_keys) > 0
  AND rule.status NOT IN ('completed', 'not_applied');
