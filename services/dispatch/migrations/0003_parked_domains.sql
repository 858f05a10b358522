-- Parking a sending domain's mail while its complaints are critical (issue #14,
-- docs/deliverability.md "Parking a domain's mail"): the e-mail dispatcher's one view of
-- which domains are parked, shared by its replicas and kept across restarts.
CREATE TABLE dispatch_parked_domains (
    sending_domain text PRIMARY KEY,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    -- The deliverability.complaint_rate_changed that parked it, and its numbers.
    event_id       uuid NOT NULL,
    complaints     integer NOT NULL,
    sent           integer NOT NULL,
    ratio          double precision NOT NULL
);

-- Where the view stands in the event log, written with its changes in one transaction.
CREATE TABLE dispatch_domain_positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Who resumed a domain and why: the operator's words stay here, never in an event.
CREATE TABLE dispatch_domain_resumes (
    event_id       uuid PRIMARY KEY,
    sending_domain text NOT NULL,
    resumed_by     text NOT NULL,
    reason         text NOT NULL,
    resumed_at     timestamptz NOT NULL DEFAULT now()
);

-- A parked row held for its sending domain: a resume makes these due at once.
ALTER TABLE dispatch_ledger ADD COLUMN held_for text;
CREATE INDEX dispatch_ledger_held ON dispatch_ledger (held_for) WHERE held_for IS NOT NULL;
