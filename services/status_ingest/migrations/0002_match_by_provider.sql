-- A provider message id is only unique within its provider: a status from one provider must
-- never be matched to (or release a parked status for) another provider's message that
-- happens to share the id.
ALTER TABLE provider_messages DROP CONSTRAINT provider_messages_pkey;
ALTER TABLE provider_messages ADD PRIMARY KEY (provider, provider_message_id);
CREATE INDEX provider_messages_id ON provider_messages (provider_message_id);
DROP INDEX parked_statuses_provider_message_id;
CREATE INDEX parked_statuses_provider_message_id ON parked_statuses (provider, provider_message_id);
