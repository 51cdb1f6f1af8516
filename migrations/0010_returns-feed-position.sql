-- Feed position of each return (src/pseudonymization/feed-reader.ts): the id of the transaction that
-- last wrote the row and a sequence number of that write. A trigger sets both on every insert and on
-- every update that changes something, so no write path can forget to move a return in the feed.
-- The columns are not in the drizzle schema on purpose: only the feed reads them.
CREATE SEQUENCE returns_feed_seq AS bigint;
--> statement-breakpoint
ALTER TABLE returns
  ADD COLUMN feed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  ADD COLUMN feed_seq bigint NOT NULL DEFAULT nextval('returns_feed_seq');
--> statement-breakpoint
ALTER SEQUENCE returns_feed_seq OWNED BY returns.feed_seq;
--> statement-breakpoint
CREATE FUNCTION returns_feed_position() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- An update that changes nothing does not re-send the return.
  IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NEW;
  END IF;
  NEW.feed_xid := pg_current_xact_id();
  NEW.feed_seq := nextval('returns_feed_seq');
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER returns_feed_position
  BEFORE INSERT OR UPDATE ON returns
  FOR EACH ROW EXECUTE FUNCTION returns_feed_position();
--> statement-breakpoint
-- Fires even under session_replication_role = replica (bulk loads), like the audit triggers.
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_feed_position;
--> statement-breakpoint
CREATE INDEX returns_feed_position_idx ON returns (feed_xid, feed_seq);
