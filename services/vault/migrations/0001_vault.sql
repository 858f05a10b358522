-- The vault's own database.  Contact values exist only as AES-GCM ciphertext in the
-- *_ct columns; data keys only wrapped, in data_keys (deleting a row there crypto-shreds).

CREATE TABLE subjects (
    ext_user_id   text PRIMARY KEY,
    key_version   integer NOT NULL,           -- the DEK generation its ciphertexts name
    email_ct      bytea,
    phone_ct      bytea,
    viber_id_ct   bytea,
    whatsapp_id_ct bytea,
    locale        text,
    opted_out     text[] NOT NULL DEFAULT '{}',
    channels      text[] NOT NULL DEFAULT '{}', -- channels with an address (non-PII fact)
    facts_version bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz                   -- a tombstone: lookups say "erased"
);

-- Kept apart from the ciphertext so that erasure is one DELETE, and rotation re-wraps
-- keys without touching a single ciphertext.
CREATE TABLE data_keys (
    ext_user_id text PRIMARY KEY REFERENCES subjects (ext_user_id) ON DELETE CASCADE,
    key_version integer NOT NULL,
    kek_id      text NOT NULL,
    wrapped_key bytea NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX data_keys_kek_id ON data_keys (kek_id);

-- Keyed HMAC of normalised addresses: lookup by address without storing it.
CREATE TABLE blind_index (
    field       text NOT NULL,
    digest      bytea NOT NULL,
    ext_user_id text NOT NULL REFERENCES subjects (ext_user_id) ON DELETE CASCADE,
    PRIMARY KEY (field, digest, ext_user_id)
);
CREATE INDEX blind_index_subject ON blind_index (ext_user_id);

-- Append-only, hash-chained.  Never a value: only which fields were touched.
CREATE TABLE audit_log (
    seq            bigint PRIMARY KEY,        -- assigned under the head lock: no gaps
    audit_id       uuid NOT NULL UNIQUE,
    at             timestamptz NOT NULL,
    caller         text NOT NULL,
    scope          text NOT NULL,
    purpose        text,
    ext_user_id    text,
    fields         text[] NOT NULL DEFAULT '{}',
    decision       text NOT NULL,
    ext_message_id uuid,
    request_id     text NOT NULL,
    detail         text,
    prev_hash      bytea NOT NULL,
    row_hash       bytea NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (ext_user_id, at);
CREATE INDEX audit_log_message ON audit_log (ext_message_id) WHERE ext_message_id IS NOT NULL;

-- The chain head: appends lock this one row, which orders them; its count and hash catch
-- rows deleted from the end.
CREATE TABLE audit_head (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq  bigint NOT NULL,
    row_count bigint NOT NULL,
    last_hash bytea NOT NULL
);
INSERT INTO audit_head (last_seq, row_count, last_hash) VALUES (0, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only by construction; the hash chain catches whoever disables this.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
