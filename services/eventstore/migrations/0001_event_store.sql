-- The event store: every lifecycle event, one hash-chained stream per ext_message_id.
CREATE TABLE events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream_id uuid NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    producer text NOT NULL,
    schema_version integer NOT NULL,
    -- The payload as chained: a message's content replaced by its content_sha256.
    payload jsonb NOT NULL,
    -- The message content (message.accepted only); NULL once the retention removed it.
    content jsonb,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    source_topic text NOT NULL,
    source_partition integer NOT NULL,
    source_offset bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE INDEX events_bodies_by_age ON events (occurred_at) WHERE content IS NOT NULL;

-- Each stream's last version and hash: a deleted tail no longer reaches it.
CREATE TABLE streams (
    stream_id uuid PRIMARY KEY,
    version integer NOT NULL,
    head_hash bytea NOT NULL
);

-- Append-only, enforced in the database: rows are never deleted, and the only change
-- allowed is removing a body.  (An owner can switch this off; the hash chain is what
-- makes that visible.)
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'the event store is append-only (% refused)', TG_OP;
    END IF;
    IF NEW.content IS NOT NULL OR (to_jsonb(NEW) - 'content') <> (to_jsonb(OLD) - 'content') THEN
        RAISE EXCEPTION 'the event store is append-only: only a message body may be removed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Where the projector is in each partition, written in the same transaction as the rows.
CREATE TABLE projector_positions (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- The vault's audit facts (who read a player's data, for which message, why).
CREATE TABLE vault_audit_facts (
    audit_id text PRIMARY KEY,
    ext_message_id text,
    ext_user_id text,
    caller text NOT NULL,
    scope text NOT NULL,
    purpose text,
    fields jsonb NOT NULL,
    decision text NOT NULL,
    at timestamptz NOT NULL,
    request_id text,
    source_topic text NOT NULL,
    source_partition integer NOT NULL,
    source_offset bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vault_audit_facts_by_message ON vault_audit_facts (ext_message_id, at);
CREATE INDEX vault_audit_facts_by_user ON vault_audit_facts (ext_user_id, at);

-- Projections: rebuilt identically by `blindpost replay`.
CREATE TABLE message_state (
    ext_message_id uuid PRIMARY KEY,
    version integer NOT NULL,
    channel text,
    ext_user_id text,
    uid text,
    status text,
    stage text,
    status_times jsonb NOT NULL,
    accepted_at timestamptz,
    last_event_at timestamptz,
    attempts integer NOT NULL,
    provider text,
    provider_message_id text,
    callbacks jsonb NOT NULL,
    body_redacted boolean NOT NULL
);
CREATE INDEX message_state_by_user ON message_state (ext_user_id, accepted_at);
CREATE INDEX message_state_by_uid ON message_state (uid);
CREATE INDEX message_state_by_status ON message_state (status, channel, accepted_at);
CREATE INDEX message_state_by_time ON message_state (accepted_at);

CREATE TABLE message_counts (
    status text NOT NULL,
    channel text NOT NULL,
    messages bigint NOT NULL,
    PRIMARY KEY (status, channel)
);
