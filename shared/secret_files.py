"""Secrets from mounted files: ``<VARIABLE>_FILE`` names a file (a Kubernetes or Docker
secret) holding the value, so it need not sit in the process environment, where any
``/proc/<pid>/environ`` reader or crash dump sees it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import SecretStr


class SecretFileError(ValueError):
    """A ``_FILE`` setting that cannot be used; the message names the variable and path."""


def is_secret(annotation: Any) -> bool:
    """``SecretStr``, ``SecretStr | None``, ``list[SecretStr]`` and the like."""
    return annotation is SecretStr or any(is_secret(arg) for arg in get_args(annotation))


def secret_from_file(names: list[str], env: Mapping[str, str]) -> str | None:
    """The secret from the file ``<VARIABLE>_FILE`` names, if one is named.  The file's
    trailing line break is not part of the secret."""
    for var in names:
        path = env.get(f"{var}_FILE")
        if path is None:
            continue
        if any(name in env for name in names):
            raise SecretFileError(f"{var}_FILE: set either {var} or {var}_FILE, not both")
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            # A path is no secret, and it is what the operator needs to see.
            raise SecretFileError(f"{var}_FILE: no file at {path!r} (is it mounted?)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretFileError(
                f"{var}_FILE: the file at {path!r} cannot be read as text ({type(exc).__name__})"
            ) from None
    return None
