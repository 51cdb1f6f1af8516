-- A deleted return leaves a feed position behind (returns_feed_deletions), so recipients get its
-- tombstone even when retention deletes a return whose erasure they had not yet been told of.
CREATE FUNCTION returns_feed_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO returns_feed_deletions (return_id, subject_id, merchant_id) VALUES (OLD.id, OLD.subject_id, OLD.merchant_id)
  ON CONFLICT (return_id) DO UPDATE
    SET feed_xid = pg_current_xact_id(), feed_seq = nextval('returns_feed_seq');
  RETURN OLD;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER returns_feed_deleted
  AFTER DELETE ON returns
  FOR EACH ROW EXECUTE FUNCTION returns_feed_deleted();
--> statement-breakpoint
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_feed_deleted;
