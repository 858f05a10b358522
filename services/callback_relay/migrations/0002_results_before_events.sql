-- Smartico's answer is recorded the moment it arrives, in one transaction with the events
-- that report it; those events reach Kafka afterwards from this outbox.  Before, the answer
-- waited for the broker: a relay killed in between, or a broker outage longer than the
-- lease, called Smartico again for a status it had already acknowledged.
CREATE TABLE callback_event_outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key bytea,
    value bytea NOT NULL
);

-- Set when a callback is claimed, cleared when its outcome is recorded: a claim that finds
-- it set knows the previous attempt's outcome is unknown (its relay died mid-call).
ALTER TABLE callback_outbox ADD COLUMN calling_since timestamptz;
