"""The vocabularies of the projection: how statuses rank, and the stages of our pipeline."""

from __future__ import annotations

from shared.domain import SmarticoStatus

# A later status replaces the current one only if it ranks at least as high: providers
# report out of order (a late "delivered" must not undo "opened").
STATUS_RANK = {
    SmarticoStatus.ACCEPTED: 0,
    SmarticoStatus.DELIVERED: 1,
    SmarticoStatus.FAILED: 2,
    SmarticoStatus.REJECTED: 2,
    SmarticoStatus.OPENED: 3,
    SmarticoStatus.CLICKED: 4,
    SmarticoStatus.COMPLAINED: 5,
    SmarticoStatus.UNSUBSCRIBED: 5,
}


class Stage:
    """Where the message is in our pipeline (beside the Smartico status)."""

    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    RESOLUTION_FAILED = "resolution_failed"
    DISPATCHING = "dispatching"
    RETRYING = "retrying"
    DISPATCHED = "dispatched"
    DISPATCH_FAILED = "dispatch_failed"
    PARKED = "parked"  # on the dispatch ledger until its retry is due
    # Streams that are not a message's (their own ids: shared.events.streams).
    REFUSED = "refused"
    STATUS_UNMATCHED = "status_unmatched"
    SUPPRESSED = "suppressed"  # a suppression no message caused (an SMS STOP), and its removal
    SUPPRESSION_REMOVED = "suppression_removed"
