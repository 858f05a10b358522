"""The dispatchers: one Kafka consumer per channel family (email, sms, cim) that opens the
sealed address only in memory, hands the message to a provider and appends the outcome to
the event log.  ``consumer`` and ``pipeline`` are the path every family shares, ``delivery``
one message's attempts, ``delivery_steps`` the pure rules between them, ``sweeper`` the
retries from the ledger; ``providers`` speak the wire formats; ``family`` and the
``*_main`` modules choose them from registries; ``ledger`` makes a crash never cause a
second send."""
