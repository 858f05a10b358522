-- Content keys (issue 15): one per player, under which intake seals the subject, body and
-- extension of every message to that player and the dispatchers open them.  Erasure deletes
-- the row: every copy of that content (topics, event store, ledgers, backups) stops opening.
-- No reference to subjects: a preview goes to players the vault does not know yet.
-- (Numbered 0011, leaving 0009-0010 to the other vault changes under way at the same time.)
CREATE TABLE content_keys (
    ext_user_id text PRIMARY KEY,
    key_id      text NOT NULL UNIQUE,   -- named in every sealed content
    kek_id      text NOT NULL,
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX content_keys_kek_id ON content_keys (kek_id);
