ALTER TABLE "subject_data_keys" DROP CONSTRAINT "subject_data_keys_live_or_destroyed";--> statement-breakpoint
ALTER TABLE "subject_data_keys" ADD CONSTRAINT "subject_data_keys_live_or_destroyed" CHECK (("subject_data_keys"."destroyed_at" is null and "subject_data_keys"."wrapped_key" is not null and "subject_data_keys"."kek_version" is not null)
        or ("subject_data_keys"."destroyed_at" is not null and "subject_data_keys"."wrapped_key" is null));--> statement-breakpoint
-- A destroyed key keeps the KEK version it was wrapped under (no indexed column changes: a HOT
-- update), with room on each page for its new version. The fillfactor applies to pages written from
-- now on.
ALTER TABLE "subject_data_keys" SET (fillfactor = 90);
