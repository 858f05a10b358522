-- Status ingest's state, in the event-store database.  No addresses or numbers here: only
-- provider ids, our ids and statuses.

-- Signatures / nonces seen, to refuse replays (pruned after the longest replay window).
CREATE TABLE webhook_nonces (
    provider text NOT NULL,
    nonce text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX webhook_nonces_seen_at ON webhook_nonces (seen_at);

-- provider message id -> ext_message_id, learnt from dispatch.succeeded events.
CREATE TABLE provider_messages (
    provider_message_id text PRIMARY KEY,
    ext_message_id uuid NOT NULL,
    provider text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Statuses that arrived before their dispatch.succeeded event: kept until it arrives.
CREATE TABLE parked_statuses (
    provider text NOT NULL,
    event_key text NOT NULL,
    provider_message_id text NOT NULL,
    provider_status text NOT NULL,
    status text NOT NULL,
    reported_at timestamptz,
    detail text,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_key)
);
CREATE INDEX parked_statuses_provider_message_id ON parked_statuses (provider_message_id);
CREATE INDEX parked_statuses_parked_at ON parked_statuses (parked_at);
