-- An erased subject (src/erasure: contact key destroyed, blind index removed) takes no new return.
-- An intake that found the subject just before the erasure committed waits on the subject row (the
-- erasure holds it FOR UPDATE, the foreign key check takes FOR KEY SHARE), then fails here with a
-- serialization failure: the client retries, the e-mail no longer finds the subject, and the return
-- starts a new one. An intake that committed first is seen, and erased, by the erasure.
CREATE FUNCTION returns_refuse_erased_subject() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM subjects WHERE id = NEW.subject_id AND erased_at IS NOT NULL) THEN
    RAISE EXCEPTION 'the subject of this return was erased; retry to start a new subject'
      USING ERRCODE = '40001';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER returns_refuse_erased_subject
  BEFORE INSERT ON returns
  FOR EACH ROW EXECUTE FUNCTION returns_refuse_erased_subject();
--> statement-breakpoint
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_refuse_erased_subject;
