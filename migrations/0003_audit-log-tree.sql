CREATE TABLE "audit_checkpoints" (
	"tree_size" bigint PRIMARY KEY NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"key_id" text NOT NULL,
	"jws" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log_entries" (
	"position" bigint PRIMARY KEY NOT NULL,
	"audit_event_id" bigint NOT NULL,
	"leaf_hash" "bytea" NOT NULL,
	CONSTRAINT "audit_log_entries_audit_event_id_unique" UNIQUE("audit_event_id")
);
--> statement-breakpoint
CREATE TABLE "audit_sequencer_state" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"horizon" "xid8" DEFAULT '0'::xid8 NOT NULL,
	"tree_size" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "audit_sequencer_state_single_row" CHECK ("audit_sequencer_state"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "audit_tree_nodes" (
	"level" smallint NOT NULL,
	"index" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "audit_tree_nodes_level_index_pk" PRIMARY KEY("level","index")
);
--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "tx_xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log_entries" ADD CONSTRAINT "audit_log_entries_audit_event_id_audit_events_id_fk" FOREIGN KEY ("audit_event_id") REFERENCES "public"."audit_events"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_events_tx_xid_idx" ON "audit_events" USING btree ("tx_xid");