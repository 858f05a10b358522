"""Reports the vault hands to a data-protection officer, signed with the audit checkpoint key
(Ed25519, held outside the database), so that anyone with the public key can tell the report
is the vault's and unchanged.

The file is the signed report in one exact form (sorted keys, two-space indent, ASCII): a
verifier re-renders what it parsed and requires the same bytes, so no byte of the file, not
even white space, can change without the check failing."""

from __future__ import annotations

import base64
import binascii
import json

from services.vault.checkpoints import CheckpointKeys, CheckpointSigner

_CONTEXT = b"blindpost signed report v1\x00"


class BadReport(Exception):
    """Why a file is not an intact signed report (in our words)."""


def _message(report: object) -> bytes:
    return (
        _CONTEXT
        + json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    )


def _render(document: object) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()


def sign(report: dict[str, object], signer: CheckpointSigner) -> bytes:
    """The file's bytes: ``report`` and its signature."""
    signature = signer.sign_bytes(_message(report))
    return _render(
        {
            "report": report,
            "signature": {
                "algorithm": "Ed25519",
                "key_id": signer.key_id,
                "value": base64.urlsafe_b64encode(signature).decode().rstrip("="),
            },
        }
    )


def verify(data: bytes, keys: CheckpointKeys) -> dict[str, object]:
    """The report, if ``data`` is one signed by one of ``keys``; else raises BadReport."""
    try:
        document = json.loads(data)
        report, signature = document["report"], document["signature"]
        value = str(signature["value"])
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        key_id = str(signature["key_id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadReport("not a signed report (the file is damaged or not one)") from None
    if _render(document) != data:
        raise BadReport("the file is not in its signed form: it was changed")
    if not keys.verifies(key_id, raw, _message(report)):
        raise BadReport(f"the signature does not verify with the given public key(s) ({key_id})")
    if not isinstance(report, dict):
        raise BadReport("not a signed report")
    return report
