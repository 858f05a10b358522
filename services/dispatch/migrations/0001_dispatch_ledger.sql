-- One row per message a dispatcher has claimed.  No address, no body: at most the sealed
-- work item (openable only by that family's dispatcher) while the message is unsettled.
CREATE TABLE dispatch_ledger (
    ext_message_id      uuid PRIMARY KEY,
    family              text NOT NULL,
    channel             text NOT NULL,
    provider            text NOT NULL,
    state               text NOT NULL CHECK (state IN ('sending', 'parked', 'sent', 'failed')),
    attempt             integer NOT NULL DEFAULT 1,
    -- 'sending': the lease after which the outcome counts as unknown; 'parked': retry time.
    due_at              timestamptz,
    work                bytea,
    provider_message_id text,
    segments            integer,
    reason              text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The sweeper's query: unsettled rows that are due, per family.
CREATE INDEX dispatch_ledger_due ON dispatch_ledger (family, due_at)
    WHERE state IN ('sending', 'parked');
