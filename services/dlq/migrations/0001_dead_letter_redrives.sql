-- Each dead letter re-driven, once: `blindpost dlq redrive` skips one already here.  The
-- re-drive itself is an event on the log (dead_letter.redriven, id event_id).
CREATE TABLE dlq_redrives (
    -- one failure: a record by where it was read, a callback by message, status, attempts
    failure text PRIMARY KEY,
    event_id uuid NOT NULL,
    redriven_at timestamptz NOT NULL DEFAULT now()
);
