-- The channels the vault's suppression list names (a hard bounce, a complaint, a STOP), kept
-- apart as well: they stay in opted_out, which intake answers 5 for, and this column lets the
-- refusal's event say "suppressed" rather than "opted_out".  Rows written before it say
-- nothing here until the subject's next facts arrive (the answer, 5, is the same).
ALTER TABLE intake_directory ADD COLUMN suppressed text[] NOT NULL DEFAULT '{}';
