-- Content keys per period (services/vault/content_keys.py): a player's content is sealed
-- under the key of the period it was accepted in, and `blindpost vault expire-content-keys`
-- destroys a key once its period ended BLINDPOST_BODY_RETENTION_DAYS ago, so content on the
-- 400-day topic stops opening about when the event store removes its copy.
-- (Numbered 0015, leaving 0013-0014 to the other vault changes under way at the same time.)
ALTER TABLE content_keys
    ADD COLUMN period_start timestamptz,
    ADD COLUMN period_end   timestamptz,
    -- The KEKs that wrapped the key before its current one, as data_keys.kek_history: a
    -- backup may hold it under any of them, so an erasure records them all.
    ADD COLUMN kek_history  text[] NOT NULL DEFAULT '{}';
-- A key made before periods sealed from its creation until now (the new code seals under a
-- key of the current period from its first request on): its period ends now.
UPDATE content_keys SET period_start = created_at, period_end = now();
ALTER TABLE content_keys
    ALTER COLUMN period_start SET NOT NULL,
    ALTER COLUMN period_end SET NOT NULL,
    DROP CONSTRAINT content_keys_pkey,
    -- The end too: a period length changed later makes other periods, never a clash.
    ADD PRIMARY KEY (ext_user_id, period_start, period_end);
CREATE INDEX content_keys_period_end ON content_keys (period_end);
