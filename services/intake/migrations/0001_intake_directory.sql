-- Non-PII facts per subject, copied from the vault's compacted subject-facts topic so that
-- intake can answer "user not found", "no address" and "opted out" by one primary-key read.
CREATE TABLE intake_directory (
    ext_user_id text PRIMARY KEY,
    channels text[] NOT NULL,
    opted_out text[] NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
