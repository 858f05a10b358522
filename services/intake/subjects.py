"""Pure decision: may a message go to this subject on this channel?  (No I/O here.)"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import Channel, ErrorCode

# The custom IM goes to the operator's own notification centre by ext_user_id: no address.
CHANNELS_WITHOUT_ADDRESS = frozenset({Channel.CIM})

MESSAGES = {
    ErrorCode.USER_NOT_FOUND: "User was not found",
    ErrorCode.NO_ADDRESS: "User has no address for the {channel} channel",
    ErrorCode.OPTED_OUT: "User opted out of the {channel} channel",
}


@dataclass(frozen=True, slots=True)
class Subject:
    channels: frozenset[str]
    opted_out: frozenset[str]  # the channels answered 5: opt-outs and suppressions
    suppressed: frozenset[str] = frozenset()  # those on the vault's suppression list


def refusal(subject: Subject | None, channel: Channel) -> ErrorCode | None:
    """The error code that refuses the message, or None when it may be accepted."""
    if subject is None:
        return ErrorCode.USER_NOT_FOUND
    if channel.value in subject.opted_out:
        return ErrorCode.OPTED_OUT
    if channel not in CHANNELS_WITHOUT_ADDRESS and channel.value not in subject.channels:
        return ErrorCode.NO_ADDRESS
    return None


def refusal_reason(subject: Subject | None, channel: Channel) -> str | None:
    """The refusal's class when it says more than its code: a suppressed channel (a hard
    bounce, a complaint, a STOP) is answered 5 like an opt-out, but recorded as what it is."""
    if subject is not None and channel.value in subject.suppressed:
        return "suppressed"
    return None


def refusal_message(code: ErrorCode, channel: Channel) -> str:
    return MESSAGES[code].format(channel=channel.value)
