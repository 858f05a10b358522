-- The callback relay's state, in the event-store database.  Everything here can be rebuilt
-- by replaying blindpost.message-events from the start (rows are written idempotently).

-- What the relay remembers per message: where and as which type to call back.
CREATE TABLE callback_messages (
    ext_message_id uuid PRIMARY KEY,
    channel text NOT NULL,
    callback_url text NOT NULL
);

-- One row per (message, status): the primary key is what makes each status reported once.
CREATE TABLE callback_outbox (
    ext_message_id uuid NOT NULL,
    status text NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    finished_at timestamptz,
    PRIMARY KEY (ext_message_id, status)
);
CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt_at) WHERE state = 'pending';

-- The consumed position of message-events, written in the same transaction as the rows
-- above: the relay resumes from here after a restart or a rebalance.
CREATE TABLE callback_offsets (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
