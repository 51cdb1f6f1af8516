CREATE TABLE "recipient_disclosures" (
	"recipient_id" text NOT NULL,
	"subject_id" uuid NOT NULL,
	"first_disclosed_at" timestamp with time zone NOT NULL,
	"last_disclosed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "recipient_disclosures_recipient_id_subject_id_pk" PRIMARY KEY("recipient_id","subject_id")
);
--> statement-breakpoint
CREATE TABLE "recipient_erasure_notices" (
	"recipient_id" text NOT NULL,
	"return_id" uuid NOT NULL,
	"subject_id" uuid NOT NULL,
	"told_at" timestamp with time zone NOT NULL,
	CONSTRAINT "recipient_erasure_notices_recipient_id_return_id_pk" PRIMARY KEY("recipient_id","return_id")
);
--> statement-breakpoint
CREATE INDEX "recipient_disclosures_subject_idx" ON "recipient_disclosures" USING btree ("subject_id");--> statement-breakpoint
CREATE INDEX "recipient_erasure_notices_subject_idx" ON "recipient_erasure_notices" USING btree ("subject_id");