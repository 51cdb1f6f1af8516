ALTER TABLE "legal_holds" ALTER COLUMN "reason" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "legal_holds" ADD COLUMN "reason_enc" "bytea";--> statement-breakpoint
ALTER TABLE "subject_requests" ADD COLUMN "extension_reason_enc" "bytea";--> statement-breakpoint
ALTER TABLE "subject_requests" ADD COLUMN "rejection_reason_enc" "bytea";