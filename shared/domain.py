"""The vocabulary every stage shares: channels, Smartico statuses, error codes, ids."""

from __future__ import annotations

import uuid
from enum import IntEnum, StrEnum
from hashlib import sha1


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VIBER = "viber"
    WHATSAPP = "whatsapp"
    CIM = "cim"

    @property
    def family(self) -> ChannelFamily:
        """The dispatcher that sends it; also the callback ``type`` Smartico expects."""
        return _FAMILY[self]


class ChannelFamily(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    CIM = "cim"


_FAMILY = {
    Channel.EMAIL: ChannelFamily.EMAIL,
    Channel.SMS: ChannelFamily.SMS,
    Channel.VIBER: ChannelFamily.SMS,
    Channel.WHATSAPP: ChannelFamily.SMS,
    Channel.CIM: ChannelFamily.CIM,
}


class SmarticoStatus(StrEnum):
    """The only eight values a callback may carry (contract: 'at text ONLY the following')."""

    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    COMPLAINED = "complained"
    OPENED = "opened"
    UNSUBSCRIBED = "unsubscribed"
    CLICKED = "clicked"


class ErrorCode(IntEnum):
    """Intake's answers (docs/contract.md)."""

    ACCEPTED = 0
    USER_NOT_FOUND = 1
    INVALID_REQUEST = 2
    UNAUTHORIZED = 3
    NO_ADDRESS = 4
    OPTED_OUT = 5
    TEMPORARILY_UNAVAILABLE = 6
    INTERNAL_ERROR = 9


# Fixed forever: changing it would give retried requests new ids.
_MESSAGE_NAMESPACE = uuid.UUID("5b1d9f0e-6a53-4c1e-9d0b-2f1c0b7d8a11")


def ext_message_id_for(channel: Channel, uid: str) -> uuid.UUID:
    """The same (channel, uid) always maps to the same ext_message_id, with no state to keep."""
    return uuid5(_MESSAGE_NAMESPACE, f"{channel.value}\x1f{uid}")


def event_id_for(ext_message_id: uuid.UUID, *discriminators: object) -> uuid.UUID:
    """Deterministic event ids: a stage that redoes work emits the same id, stored once."""
    return uuid5(ext_message_id, "\x1f".join(str(part) for part in discriminators))


_VERSION_5 = (5 << 76) | (0x8000 << 48)  # the version nibble and the RFC 4122 variant bits
_NOT_VERSION = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)


def uuid5(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """Equal to ``uuid.uuid5(namespace, name)``, several times faster: the stdlib's builds
    the UUID through its general constructor, and every message takes a few of these
    (its id, each event's id).  ``UUID`` is immutable by convention only (slots set once)."""
    digest = sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", int.from_bytes(digest[:16]) & _NOT_VERSION | _VERSION_5)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made
