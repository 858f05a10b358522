import json
import uuid

import pytest
from pydantic import ValidationError

from shared.domain import Channel, ChannelFamily, ext_message_id_for, uuid5
from shared.events import Event, MessageAccepted, RecipientResolutionFailed
from shared.sealing import SealingError, SealingKeyring, SealingPublicKey, generate_keypair
from shared.work import sealing_context
from tests.support import events as build


def accepted(uid: str = "uid-1") -> Event:
    return build.accepted(uid, ext_user_id="hhu234556", callback_url="https://api.smartico.ai/cb")


def test_envelope_round_trips_through_bytes():
    event = accepted()
    again = Event.from_bytes(event.to_bytes())
    assert again == event
    assert isinstance(again.payload, MessageAccepted)
    assert event.key == str(event.ext_message_id).encode()


def test_same_channel_and_uid_give_the_same_ids_and_other_channels_do_not():
    assert ext_message_id_for(Channel.SMS, "u") == ext_message_id_for(Channel.SMS, "u")
    assert ext_message_id_for(Channel.SMS, "u") != ext_message_id_for(Channel.VIBER, "u")
    assert accepted().event_id == accepted().event_id


@pytest.mark.parametrize("name", ["", "u", "email\x1fuid-1", "ünïcode\x1f" * 40])
def test_our_uuid5_is_the_standard_one(name: str) -> None:
    """Ids already stored were made by uuid.uuid5: the faster one must give the same."""
    namespace = uuid.UUID("5b1d9f0e-6a53-4c1e-9d0b-2f1c0b7d8a11")
    ours, standard = uuid5(namespace, name), uuid.uuid5(namespace, name)
    assert (ours, str(ours), hash(ours), ours.version) == (
        standard,
        str(standard),
        hash(standard),
        5,
    )
    assert ours.variant == uuid.RFC_4122


def test_a_payload_that_does_not_match_its_type_is_rejected():
    bad = json.loads(accepted().to_bytes())
    bad["payload"] = {"channel": "email", "reason": "nope"}
    with pytest.raises(ValidationError):
        Event.from_bytes(json.dumps(bad).encode())
    with pytest.raises(ValidationError):
        RecipientResolutionFailed(channel=Channel.EMAIL, reason="because")  # type: ignore[arg-type]


def test_channel_families_are_the_callback_types():
    assert {c.family for c in Channel} == set(ChannelFamily)
    assert (
        Channel.WHATSAPP.family is ChannelFamily.SMS and Channel.VIBER.family is ChannelFamily.SMS
    )


def test_sealed_address_opens_only_for_its_dispatcher_and_its_message():
    private, public = generate_keypair("email-1")
    other_private, _ = generate_keypair("email-1")
    mid = uuid.uuid4()
    token = SealingPublicKey.parse(public).seal(
        b"player@example.com", sealing_context(mid, Channel.EMAIL)
    )
    assert b"player@example.com" not in token.encode()
    keyring = SealingKeyring.parse([private])
    assert keyring.open(token, sealing_context(mid, Channel.EMAIL)) == b"player@example.com"
    with pytest.raises(SealingError):
        keyring.open(token, sealing_context(uuid.uuid4(), Channel.EMAIL))
    with pytest.raises(SealingError):
        SealingKeyring.parse([other_private]).open(token, sealing_context(mid, Channel.EMAIL))
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(SealingError):
        keyring.open(tampered, sealing_context(mid, Channel.EMAIL))


def test_boxes_of_one_batch_share_an_ephemeral_key_yet_each_opens_only_for_its_message():
    private, public = generate_keypair("email-1")
    session = SealingPublicKey.parse(public).session()
    mids = [uuid.uuid4() for _ in range(3)]
    tokens = [
        session.seal(f"player{i}@example.com".encode(), sealing_context(mid, Channel.EMAIL))
        for i, mid in enumerate(mids)
    ]
    assert len({token.split(".")[2] for token in tokens}) == 1  # one ephemeral key
    assert len({token.split(".")[3] for token in tokens}) == 3  # a nonce each
    keyring = SealingKeyring.parse([private])
    for i, (mid, token) in enumerate(zip(mids, tokens, strict=True)):
        opened = keyring.open(token, sealing_context(mid, Channel.EMAIL))
        assert opened == f"player{i}@example.com".encode()
    # A box moved onto another message of the same batch does not open there.
    with pytest.raises(SealingError):
        keyring.open(tokens[0], sealing_context(mids[1], Channel.EMAIL))
    # A fresh session, a fresh ephemeral key.
    other = SealingPublicKey.parse(public).session().seal(b"x", b"ctx")
    assert other.split(".")[2] != tokens[0].split(".")[2]


def test_a_low_order_ephemeral_key_is_refused_not_raised_as_a_bare_error():
    private, public = generate_keypair("email-1")
    token = SealingPublicKey.parse(public).seal(b"player@example.com", b"ctx")
    version, key_id, _ephemeral, nonce, ciphertext = token.split(".")
    zero_point = "A" * 43  # 32 zero bytes, base64url: a low-order point
    forged = ".".join((version, key_id, zero_point, nonce, ciphertext))
    with pytest.raises(SealingError, match="unusable ephemeral key"):
        SealingKeyring.parse([private]).open(forged, b"ctx")
