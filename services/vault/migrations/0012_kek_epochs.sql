-- KEK epochs (services/vault/kek_epochs.py): their lifecycle, never their key material,
-- which lives outside the database so that a backup of it cannot unwrap a data key once
-- the epoch is destroyed.
CREATE TABLE kek_epochs (
    kek_id       text PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    -- From this time no data key in the database was wrapped by it: backups taken later
    -- do not need it, and it is destroyed a backup retention after.
    retired_at   timestamptz,
    destroyed_at timestamptz
);

-- The KEKs that wrapped a data key before its current one (re-wrapped by a rotation): a
-- backup may hold the key under any of them, so an erasure records them all.
ALTER TABLE data_keys ADD COLUMN kek_history text[] NOT NULL DEFAULT '{}';
