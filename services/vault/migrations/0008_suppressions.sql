-- The suppression list (issue 14): a player whose address hard-bounced, who complained, who
-- unsubscribed at a provider or replied STOP is not sent to again on that channel.  Each
-- row names the reason, who reported it and the message that caused it; never an address.
-- (Numbered 0008, leaving 0004-0007 to the audit rewrite under way at the same time.)
CREATE TABLE suppressions (
    ext_user_id    text NOT NULL REFERENCES subjects (ext_user_id) ON DELETE CASCADE,
    channel        text NOT NULL,
    reason         text NOT NULL,   -- hard_bounce, complaint, unsubscribe, stop
    source         text NOT NULL,   -- who reported it: bounce, sendgrid, twilio, ...
    ext_message_id uuid,            -- the message that caused it, where there is one
    detail         text,            -- a DSN status class (5.1) or a feedback type (abuse)
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ext_user_id, channel)
);
CREATE INDEX suppressions_by_time ON suppressions (created_at);

-- The channels a subject is suppressed on, beside its opt-outs: what its facts publish.
-- Kept by services/vault/suppressions.py together with the rows above.
ALTER TABLE subjects ADD COLUMN suppressed text[] NOT NULL DEFAULT '{}';
