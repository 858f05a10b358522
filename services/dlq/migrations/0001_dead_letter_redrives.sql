-- Each dead letter re-driven, once: `blindpost dlq redrive` skips one already here.  The
-- re-drive itself is an event on the log (dead_letter.redriven, id event_id).
CREATE TABLE dlq_redrives (
    dead_letter text PRIMARY KEY,  -- topic/partition/offset
    event_id uuid NOT NULL,
    redriven_at timestamptz NOT NULL DEFAULT now()
);
