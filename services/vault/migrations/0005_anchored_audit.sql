-- The anchored audit log (issue 17).  The schema belongs to an owner role that runs these
-- migrations; the runtime role gets only what services/vault/roles.py grants: INSERT into
-- the log and its checkpoints, UPDATE of the head (forward only, below), nothing else there.
-- (0004 is left to the suppression list.)

-- The caller's network address, from the connection (never a header).
ALTER TABLE audit_log ADD COLUMN peer text;
-- `audit pii --principal` (the subject and message indexes serve the other reports).
CREATE INDEX audit_log_caller ON audit_log (caller, at);

-- Signed (seq, head hash) pairs; the signing key lives outside the database, and each one
-- is also published to the audit topic, so a rewritten chain no longer matches them.
CREATE TABLE audit_checkpoints (
    seq       bigint PRIMARY KEY,
    head_hash bytea NOT NULL,
    at        timestamptz NOT NULL,
    key_id    text NOT NULL,
    signature bytea NOT NULL
);

-- Where the log begins once old rows are pruned: a checkpointed (seq, hash) the chain
-- continues from.  Genesis until the first prune.
CREATE TABLE audit_anchor (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO audit_anchor (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Rows at or below the anchor may be deleted by a prune (`blindpost audit prune`, as the
-- owner, which sets blindpost.audit_prune for its transaction); nothing else may go.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('blindpost.audit_prune', true) = 'on'
       AND OLD.seq <= (SELECT seq FROM audit_anchor) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only';
END $$;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();

-- The runtime role may advance the head, never move it back or rewrite where it stands.
CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_seq < OLD.last_seq OR NEW.row_count < OLD.row_count
       OR (NEW.last_seq = OLD.last_seq AND NEW.last_hash <> OLD.last_hash) THEN
        RAISE EXCEPTION 'audit_head only moves forward';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
