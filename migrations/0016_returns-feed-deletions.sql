CREATE TABLE "returns_feed_deletions" (
	"return_id" uuid PRIMARY KEY NOT NULL,
	"subject_id" uuid NOT NULL,
	"merchant_id" text NOT NULL,
	"feed_xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"feed_seq" bigint DEFAULT nextval('returns_feed_seq') NOT NULL
);
--> statement-breakpoint
CREATE INDEX "returns_feed_deletions_position_idx" ON "returns_feed_deletions" USING btree ("feed_xid","feed_seq");