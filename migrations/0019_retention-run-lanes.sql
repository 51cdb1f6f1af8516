ALTER TABLE "retention_run_rules" ADD COLUMN "lane_keys" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "retention_runs" ADD COLUMN "lanes" integer DEFAULT 1 NOT NULL;