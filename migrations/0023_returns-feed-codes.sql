ALTER TABLE "returns" ADD CONSTRAINT "returns_feed_codes" CHECK ("returns"."status" ~ '^[a-z_]{1,32}$' and "returns"."method" ~ '^[a-z_]{1,32}$'
        and "returns"."refund_method" ~ '^[a-z_]{1,32}$' and "returns"."country" ~ '^[A-Z]{2}$'
        and "returns"."postal_area" ~ '^[A-Z0-9 -]{0,3}$') NOT VALID;
--> statement-breakpoint
-- Checked apart from adding it: the scan of existing rows then blocks no write (SHARE UPDATE EXCLUSIVE).
ALTER TABLE "returns" VALIDATE CONSTRAINT "returns_feed_codes";
