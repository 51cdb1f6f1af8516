CREATE TABLE "subjects" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email_index" "bytea" NOT NULL,
	"email_index_version" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subject_data_keys" (
	"subject_id" uuid NOT NULL,
	"data_class" text NOT NULL,
	"wrapped_key" "bytea",
	"kek_version" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"wrapped_at" timestamp with time zone DEFAULT now() NOT NULL,
	"destroyed_at" timestamp with time zone,
	CONSTRAINT "subject_data_keys_subject_id_data_class_pk" PRIMARY KEY("subject_id","data_class"),
	CONSTRAINT "subject_data_keys_live_or_destroyed" CHECK (("subject_data_keys"."destroyed_at" is null and "subject_data_keys"."wrapped_key" is not null and "subject_data_keys"."kek_version" is not null)
        or ("subject_data_keys"."destroyed_at" is not null and "subject_data_keys"."wrapped_key" is null and "subject_data_keys"."kek_version" is null))
);
--> statement-breakpoint
ALTER TABLE "subject_data_keys" ADD CONSTRAINT "subject_data_keys_subject_id_subjects_id_fk" FOREIGN KEY ("subject_id") REFERENCES "public"."subjects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "subjects_email_index_key" ON "subjects" USING btree ("email_index");--> statement-breakpoint
CREATE INDEX "subject_data_keys_kek_version_idx" ON "subject_data_keys" USING btree ("kek_version");