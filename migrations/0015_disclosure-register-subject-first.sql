DROP INDEX "recipient_disclosures_subject_idx";--> statement-breakpoint
ALTER TABLE "recipient_disclosures" DROP CONSTRAINT "recipient_disclosures_recipient_id_subject_id_pk";--> statement-breakpoint
ALTER TABLE "recipient_disclosures" ADD CONSTRAINT "recipient_disclosures_subject_id_recipient_id_pk" PRIMARY KEY("subject_id","recipient_id");