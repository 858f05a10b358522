"""Secrets refused at start outside a local run: one shorter than 32 bytes (guessable), or
one of the public values shipped in ``deploy/local/blindpost.env`` (a copied example).

The shipped values are known here by their SHA-256 digests (the env file is not in the
image, and the values themselves need not be repeated); ``tests/shared/test_secret_policy.py``
fails when the file and this list part ways.  Problems name the variable, never the value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

MIN_SECRET_BYTES = 32

SHIPPED_DIGESTS = frozenset(
    {
        # tests/shared/test_secret_policy.py prints the list when the env file changes
        "04f96887e50b85d123317f24643bea597f10d1d1b7bdde4a0d2b32c2d7af0dc8",
        "08d5f409490f61fc00aed4d165513bd2b839138fef6ecdcdd3f33270bfeee80a",
        "0b9dc5a5089b3e28a721edf03c3d8f83d78754680020f5e6965d724cf46014ce",
        "0d0da595dd55fc73d23f69a2c81ad6947559404bde56690a40330840c28c378b",
        "2256920a2565360dab57183b476a3986106f1927df86126f3bb4e3196228887a",
        "2306fe70d305361177202b64a41703d9c1ffc53d138b06ac8dd300b6f340aa26",
        "27809df9933c14f6113d453f6ca0013f6138ebda0074301f86f592cefce45aba",
        "27e61b1403967f1190a999868f02318975b106c469744b2e1b5f853ae22f9504",
        "30c72c30684b6a8a6751358f3644294ce152c6ad45e2dda17a896bbdfdcded8b",
        "40cb892e0de8f6de4b20ae570f946ea34ef97d66d132a92b5941669ff17414a7",
        "416d7805d5c7e1c51b83ab35c7d2785937dc13c52ee56948c6415c2f782576cf",
        "41809b089574fff85bd64bbc917b9542f59026d1280dd319ae459eaf7f522e51",
        "433240c48e3ae5fac6dba1833b685ce9c228800bc05466a3222f4ed185cf6a87",
        "54013b91cb8ab8e3a90ef4dfd789ce8bf5cbac4ceb75aaf7b4d513052c243855",
        "55647f31c2768aa87247f5c73a987b5db0e302405a6ae67af97de7cc40f3ae44",
        "6bf4bc2f5d722cee09a6f818a11ce523e52ba3c7e359c19903b6b2e638ce8e5b",
        "7e1bf62a26ef55127479a1588862fe91c8eff49a0008d8034c494ae402969793",
        "814caebe75fef2dbe2432d120c4f368a50b3de3af1e48e76d2f8596efcb7b805",
        "944ac28baca3504afbb3e664c28a8494bb81aed4d5f417e91d6b12fcaf42c9a8",
        "a32df1623acefd125e85c464106e278ec6ed2f6504ac0bdc4ee921e707986125",
        "a8609106e9f6ba4da1d24df34106f8007da7e6f55d1f1000812933573856c03b",
        "ab6507ac6bfc429508e9a6443c1445531b2159c566737ec38656d2b7772dd7aa",
        "ab899cb5e5c116ed3ee939e2699b8c1f569e852bfde11ac50877230b9d54effe",
        "b187e57fa59c379ed2292e4c55b9b9520b76ecb49d54b2ad1e812bda0c9d9c0a",
        "b2e29396171b6b7d244784d6991b65115a49cac495f65585df289fd6a5a85565",
        "b4b88ee4b8df9416c7abbd302296678c9d6e478b4877ee882be65f0a770b1661",
        "ce9cc352879a13a202f9732fb080904f3c56bbb52023a448e9d42e6f41a8c57d",
        "da9a64c3ccfa23c0a3e613743fce6921f5ff192e675a2e29d9c60d827f895c9a",
        "dafb7397089494d73349aa01c1a6622653d377d5131a2bceb3115df7b831b068",
        "dd2e955d252d66488a19eef724e1e91ca3426e704580118b83070fc1b3afb397",
        "e01f6ae10b8d49792e5a48c8c1ee2cb5012c897c4f73e8eb2719a9da96459f93",
        "e1441df37c5b448b1ccd919fd6cb6bdd9748e221701e95b142d20933a48e3af9",
        "e59ff9823b85bccbfb21614b05e1fe8def242a01ebd7085cae7853900962362e",
        "ea2370d14e1005d665c19285dc607f4a9ed803965dcd450e5b68c2e755dea522",
        "eb002ae28c29e9517146dad35aae60266002616bd3c91636de08a096677d1914",
        "f1a2be627175a84e113fe2aa7564556dc4561eb7fc32e02675f65542cded8960",
        "f2b012d3971fad2cbfbf99bba96331557ae07a06e3391af9318daa8bf7727ed4",
        "f47f2db7cdb50ff57989547ccdaa3180c4be50d26e7408b8eb0036acc8d4c5ca",
        "f77642c88fa0bea4a48e49943828f5a7797c76e53c0edc22a8ac502030b7f027",
        "fbaeb6f814efa985df02b07f1f55cc7fb3af44c5eb3e1888d2e484091be227c0",
    }
)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def shipped_values(value: str) -> Iterator[str]:
    """What a shipped line gives away: the value, each comma-separated item, a URL's password."""
    yield value
    for item in value.split(","):
        yield item.strip()
        if "://" in item:
            password = urlsplit(item.strip()).password
            if password:
                yield password


def shipped_digests(values: Iterable[str]) -> frozenset[str]:
    """:data:`SHIPPED_DIGESTS` for the values of an env file (short or numeric ones are no
    secrets, and a short secret is refused anyway)."""
    return frozenset(
        digest(part)
        for value in values
        for part in shipped_values(value)
        if len(part) >= 8 and not part.replace(".", "").replace(":", "").isdigit()
    )


def weak_secrets(settings: BaseModel, env_names: Callable[[str], list[str]]) -> list[str]:
    """Each secret field of ``settings`` (not its groups: they check themselves) that is too
    short or shipped.  Fields in the class's ``issued_elsewhere`` (a provider's credential, a
    DSN) are only checked against the shipped values: their length is not ours to choose; so
    are those in ``key_material`` (plain-text key lists whose parsers check their length)."""
    cls = type(settings)
    issued_elsewhere: frozenset[str] = getattr(cls, "issued_elsewhere", frozenset())
    key_material: frozenset[str] = getattr(cls, "key_material", frozenset())
    problems = []
    for name in cls.model_fields:
        value = getattr(settings, name)
        if name in key_material:
            secrets = [str(item) for item in value or ()]
        else:
            secrets = list(_secrets(value))
        # Unset (empty) is not weak: the feature it guards is off.
        secrets = [secret for secret in secrets if secret]
        var = env_names(name)[0]
        if any(digest(part) in SHIPPED_DIGESTS for s in secrets for part in shipped_values(s)):
            problems.append(
                f"{var}: is a public value shipped in deploy/local/blindpost.env "
                "(accepted only with BLINDPOST_ENV=local)"
            )
        elif name not in issued_elsewhere | key_material and any(
            len(secret.encode()) < MIN_SECRET_BYTES for secret in secrets
        ):
            problems.append(f"{var}: a secret must be at least {MIN_SECRET_BYTES} bytes")
    return problems


def _secrets(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, SecretStr):
                yield item.get_secret_value()
