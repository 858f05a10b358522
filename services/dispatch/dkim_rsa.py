"""dkimpy's DKIM signature with its RSA done by OpenSSL (``cryptography``).

dkimpy signs with Python's own big-number arithmetic: tens of milliseconds of CPU per mail
for a 2048-bit key, twenty times all the rest of the dispatcher's work on it.  RSASSA-PKCS1
v1.5 is deterministic, so the signature OpenSSL makes over the same hash is the same bytes:
everything else (canonicalisation, the tags, the folding) stays dkimpy's.  Imported only by
deployments that sign (``DkimSigner``).
"""

from __future__ import annotations

import base64
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

SIGNATURE_HEADER = b"DKIM-Signature"


def rsa_key(private_key_pem: bytes) -> rsa.RSAPrivateKey | None:
    """The key, if OpenSSL can sign with it as dkimpy would; None leaves it to dkimpy
    (and to its errors, per mail, as before)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 1024 else None


class OpenSslRsaDkim(dkim.DKIM):
    """``dkim.DKIM`` signing rsa-sha256 as ``dkim.sign`` does; only the signature itself
    (the last step of dkimpy's ``gen_header``, repeated here) is OpenSSL's."""

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message, signature_algorithm=b"rsa-sha256", linesep=b"\r\n")
        self.key = key

    def gen_header(
        self,
        fields: list[tuple[bytes, bytes]],
        include_headers: tuple[bytes, ...],
        canon_policy: Any,
        header_name: bytes,
        pk: Any,
        standardize: bool = False,
    ) -> bytes:
        if standardize or header_name != SIGNATURE_HEADER:  # ARC: not ours to sign
            return super().gen_header(
                fields, include_headers, canon_policy, header_name, pk, standardize
            )
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        digest = self.hasher()
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(
            digest, canon_policy, headers, include_headers, header, dict(fields)
        )
        signature = self.key.sign(
            digest.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        at = [i for i, (tag, _value) in enumerate(fields) if tag == b"b"][0]
        fields[at] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return bytes(dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep))
