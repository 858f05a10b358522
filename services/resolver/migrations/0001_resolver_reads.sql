-- One vault read per message: the record (partition, offset) of message-events that may read
-- the vault for each message.  A duplicated message.accepted (a retried request that reached
-- another intake replica) is another record, and finds the message already claimed.
CREATE TABLE resolver_reads (
    ext_message_id uuid PRIMARY KEY,
    source_partition integer NOT NULL,
    source_offset bigint NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resolver_reads_by_age ON resolver_reads (claimed_at);
