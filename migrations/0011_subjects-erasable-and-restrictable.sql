ALTER TABLE "subjects" ALTER COLUMN "email_index" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "subjects" ALTER COLUMN "email_index_version" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "subjects" ADD COLUMN "restricted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subjects" ADD COLUMN "erased_at" timestamp with time zone;