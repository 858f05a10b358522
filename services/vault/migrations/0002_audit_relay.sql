-- How far the audit log has been published to Kafka (the SIEM feed).  Rows are committed
-- in seq order (appends hold the chain head's lock until commit), so one cursor suffices.
CREATE TABLE audit_relay (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    published_seq bigint NOT NULL
);
INSERT INTO audit_relay (published_seq) VALUES (0);
