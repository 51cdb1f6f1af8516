CREATE TABLE "subject_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"type" text NOT NULL,
	"status" text DEFAULT 'received' NOT NULL,
	"subject_id" uuid,
	"email_index" "bytea",
	"email_index_version" text,
	"channel" text,
	"changes_enc" "bytea",
	"received_at" timestamp with time zone NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"extended_due_at" timestamp with time zone,
	"extension_reason" text,
	"extended_by" text,
	"extended_at" timestamp with time zone,
	"verification_method" text,
	"verified_by" text,
	"verified_at" timestamp with time zone,
	"rejection_reason" text,
	"rejected_by" text,
	"result" jsonb,
	"policy_version" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"executed_by" text
);
--> statement-breakpoint
CREATE TABLE "legal_holds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"subject_id" uuid,
	"return_id" uuid,
	"reason" text NOT NULL,
	"until" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"released_by" text,
	"released_at" timestamp with time zone,
	CONSTRAINT "legal_holds_one_target" CHECK (("legal_holds"."subject_id" is null) <> ("legal_holds"."return_id" is null))
);
--> statement-breakpoint
ALTER TABLE "legal_holds" ADD CONSTRAINT "legal_holds_subject_id_subjects_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."subjects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "subject_requests_status_due_idx" ON "subject_requests" USING btree ("status","due_at");--> statement-breakpoint
CREATE INDEX "subject_requests_subject_idx" ON "subject_requests" USING btree ("subject_id");--> statement-breakpoint
CREATE INDEX "subject_requests_email_index_idx" ON "subject_requests" USING btree ("email_index");--> statement-breakpoint
CREATE INDEX "legal_holds_subject_open_idx" ON "legal_holds" USING btree ("subject_id") WHERE "legal_holds"."released_at" is null;--> statement-breakpoint
CREATE INDEX "legal_holds_return_open_idx" ON "legal_holds" USING btree ("return_id") WHERE "legal_holds"."released_at" is null;