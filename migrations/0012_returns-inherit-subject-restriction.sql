-- GDPR Art. 18: a return created for a subject whose processing is restricted starts restricted too,
-- whatever write path created it (intake, seed, bulk load). Lifting a restriction is an explicit step
-- in src/subject-requests, which updates the existing returns itself.
CREATE FUNCTION returns_inherit_subject_restriction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.data_state = 'active'
     AND EXISTS (SELECT 1 FROM subjects WHERE id = NEW.subject_id AND restricted_at IS NOT NULL) THEN
    NEW.data_state := 'restricted';
    NEW.restricted_at := now();
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER returns_inherit_subject_restriction
  BEFORE INSERT ON returns
  FOR EACH ROW EXECUTE FUNCTION returns_inherit_subject_restriction();
--> statement-breakpoint
ALTER TABLE returns ENABLE ALWAYS TRIGGER returns_inherit_subject_restriction;
