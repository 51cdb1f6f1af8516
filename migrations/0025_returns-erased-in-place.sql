-- An erasure leaves the return where it is in the feed and gives it a tombstone position in
-- returns_feed_deletions instead, as a deletion does. Moving it would change its indexed
-- feed_xid/feed_seq: every erased return would be a new row version with an entry in each of the five
-- indexes of the table. Left in place, with room on its page (fillfactor below), the erasure is a HOT
-- update: one row version, no index entry. A retention sweep erases returns by the hundred thousand.
-- The feed skips erased returns and sends the tombstone at its own position (feed-reader.ts).
DROP TRIGGER returns_feed_position ON returns;
--> statement-breakpoint
CREATE TRIGGER returns_feed_position_insert
  BEFORE INSERT ON returns
  FOR EACH ROW EXECUTE FUNCTION returns_feed_position();
--> statement-breakpoint
-- The condition is evaluated without calling the function: an erasure costs no PL/pgSQL call per row.
CREATE TRIGGER returns_feed_position_update
  BEFORE UPDATE ON returns
  FOR EACH ROW WHEN (OLD.erased_at IS NOT DISTINCT FROM NEW.erased_at)
  EXECUTE FUNCTION returns_feed_position();
--> statement-breakpoint
-- One insert per statement for all the returns it erased (a retention batch is one statement). A
-- return is erased once, and a deleted one is not updated: no tombstone of it can exist yet.
CREATE FUNCTION returns_feed_erased() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO returns_feed_deletions (return_id, subject_id, merchant_id)
  SELECT erased.id, erased.subject_id, erased.merchant_id
  FROM new_rows erased JOIN old_rows before ON before.id = erased.id
  WHERE before.erased_at IS NULL AND erased.erased_at IS NOT NULL;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER returns_feed_erased
  AFTER UPDATE ON returns
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION returns_feed_erased();
--> statement-breakpoint
-- Fire even under session_replication_role = replica (bulk loads), like the trigger they replace.
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_feed_position_insert;
--> statement-breakpoint
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_feed_position_update;
--> statement-breakpoint
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_feed_erased;
--> statement-breakpoint
-- Room on each page for the new version of a row whose contact columns an erasure nulls (HOT).
-- Applies to pages written from now on; `VACUUM FULL returns` repacks a table filled before.
ALTER TABLE returns SET (fillfactor = 80);
--> statement-breakpoint
-- Returns erased before this migration moved to their erasure's position: their tombstones take it.
INSERT INTO returns_feed_deletions (return_id, subject_id, merchant_id, feed_xid, feed_seq)
SELECT id, subject_id, merchant_id, feed_xid, feed_seq FROM returns WHERE erased_at IS NOT NULL
ON CONFLICT (return_id) DO NOTHING;
