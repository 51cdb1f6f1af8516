-- A run left unfinished before lanes existed was swept in one lane: its last key becomes lane 1's.
UPDATE retention_run_rules SET lane_keys = ARRAY[last_key] WHERE last_key IS NOT NULL;
