CREATE TABLE "retention_run_rules" (
	"run_id" uuid NOT NULL,
	"rule_id" text NOT NULL,
	"position" integer NOT NULL,
	"data_class" text NOT NULL,
	"action" text NOT NULL,
	"duration" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"skipped_held" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"batches" integer DEFAULT 0 NOT NULL,
	"last_key" text,
	"note" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"duration_ms" integer,
	CONSTRAINT "retention_run_rules_run_id_rule_id_pk" PRIMARY KEY("run_id","rule_id"),
	CONSTRAINT "retention_run_rules_counts_non_negative" CHECK ("retention_run_rules"."done" >= 0 and "retention_run_rules"."skipped_held" >= 0 and "retention_run_rules"."failed" >= 0)
);
--> statement-breakpoint
CREATE TABLE "retention_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"job" text DEFAULT 'retention' NOT NULL,
	"scheduled_for" timestamp with time zone,
	"trigger" text NOT NULL,
	"actor" text NOT NULL,
	"as_of" timestamp with time zone NOT NULL,
	"policy_version" text NOT NULL,
	"batch_size" integer NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"duration_ms" integer,
	"failure" text
);
--> statement-breakpoint
ALTER TABLE "retention_run_rules" ADD CONSTRAINT "retention_run_rules_run_id_retention_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."retention_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "retention_runs_job_scheduled_for_key" ON "retention_runs" USING btree ("job","scheduled_for");--> statement-breakpoint
CREATE INDEX "retention_runs_started_at_idx" ON "retention_runs" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "retention_runs_status_idx" ON "retention_runs" USING btree ("status");