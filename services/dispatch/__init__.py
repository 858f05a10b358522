"""The dispatchers: one Kafka consumer per channel family (email, sms, cim) that opens the
sealed address only in memory, hands the message to a provider and appends the outcome to
the event log.  ``core`` is the loop every family shares; ``providers`` speak the wire
formats; ``ledger`` makes a crash never cause a second send."""
