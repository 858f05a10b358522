"""The event store: the projector that persists every lifecycle event, its projections,
replay, the audit join, tamper evidence and body retention (docs/event-log.md)."""
