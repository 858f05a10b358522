"""KEK epochs: the key-encryption key is a sequence of epochs, each destroyed on schedule, so
that a data key erased from the live database stops being recoverable from the backups taken
before its erasure once those backups have expired (docs/vault.md, Backups).

An epoch's key is never stored, in the database or anywhere else: it is derived with
HKDF-SHA256 from a master secret (``BLINDPOST_VAULT_KEK_EPOCH_MASTER``, configuration) and
the epoch's own 32 random bytes, a file in a directory outside PostgreSQL
(``BLINDPOST_VAULT_KEK_EPOCHS_DIR``), so a database backup holds neither.  Destroying an
epoch deletes its file (and leaves a ``.destroyed`` marker with the time, no key material):
from then on no master secret opens what it wrapped.

Files: ``epoch-<n>.material`` (base64url of the random bytes), ``epoch-<n>.destroyed`` (ISO
time).  Epoch numbers only grow; the newest epoch with material is the current one, which
wraps every new data key.  The vault reads the directory, and re-reads it every
``refresh_s`` and whenever it meets an epoch it does not know; only
``blindpost vault rotate-epochs`` (services/vault/epoch_rotation.py) writes it."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.vault.crypto import KeyMaterialError

PREFIX = "epoch-"
_FILE = re.compile(r"epoch-(\d+)\.(material|destroyed)")
_MATERIAL_BYTES = 32
# A vault that meets an unknown epoch re-reads at once, but not more often than this.
_MISS_RESCAN_S = 1.0


def epoch_number(kek_id: str) -> int | None:
    match = re.fullmatch(r"epoch-(\d+)", kek_id)
    return int(match.group(1)) if match else None


def is_epoch(kek_id: str) -> bool:
    return epoch_number(kek_id) is not None


class EpochStore:
    """The epochs in one directory: their derived keys, the current one, the destroyed ones."""

    def __init__(
        self,
        directory: Path,
        master: bytes,
        *,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(master) < 32:
            raise KeyMaterialError("the KEK epoch master secret is base64url of 32 bytes")
        self.directory = directory
        self._master = master
        self._refresh_s = refresh_s
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self._destroyed: dict[str, str] = {}
        self._read_at = float("-inf")
        self._rescan()

    @classmethod
    def from_setting(cls, directory: Path, master: str, refresh_s: float = 60.0) -> EpochStore:
        try:
            raw = base64.urlsafe_b64decode(master.strip() + "=" * (-len(master.strip()) % 4))
        except (ValueError, TypeError):
            raw = b""
        return cls(directory, raw, refresh_s=refresh_s)

    # Reading (the vault).

    def keys(self) -> dict[str, bytes]:
        self._refresh_if_stale()
        return dict(self._keys)

    def current(self) -> str | None:
        self._refresh_if_stale()
        return max(self._keys, key=lambda k: epoch_number(k) or 0, default=None)

    def key(self, kek_id: str) -> bytes | None:
        self._refresh_if_stale()
        if kek_id not in self._keys and is_epoch(kek_id):
            if self._clock() - self._read_at >= _MISS_RESCAN_S:
                self._rescan()
        return self._keys.get(kek_id)

    def why_missing(self, kek_id: str) -> str | None:
        """Why an epoch has no key here (None for what is not an epoch)."""
        if kek_id in self._destroyed:
            return f"was destroyed at {self._destroyed[kek_id]}: what it wrapped cannot be opened"
        if is_epoch(kek_id):
            return "is not in the KEK epoch directory"
        return None

    def destroyed(self) -> dict[str, str]:
        self._refresh_if_stale()
        return dict(self._destroyed)

    # Writing (the rotation job).

    def create(self) -> str:
        """A new epoch, which becomes the current one."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._rescan()
        known = [epoch_number(k) or 0 for k in (*self._keys, *self._destroyed)]
        kek_id = f"{PREFIX}{max(known, default=0) + 1}"
        material = base64.urlsafe_b64encode(os.urandom(_MATERIAL_BYTES))
        self._write_new(self.directory / f"{kek_id}.material", material)
        self._rescan()
        return kek_id

    def destroy(self, kek_id: str, at: datetime) -> None:
        """Delete the epoch's material (overwritten first, where the file system allows it to
        matter) and leave a marker saying when."""
        material = self.directory / f"{kek_id}.material"
        marker = self.directory / f"{kek_id}.destroyed"
        if not marker.exists():
            self._write_new(marker, at.isoformat().encode())
        if material.exists():
            with material.open("r+b") as file:
                file.write(b"\0" * len(file.read()))
                file.flush()
                os.fsync(file.fileno())
            material.unlink()
            self._sync_directory()
        self._rescan()

    # Internals.

    def _derive(self, kek_id: str, material: bytes) -> bytes:
        info = f"blindpost-vault-kek-epoch:v1:{kek_id}".encode()
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=material, info=info)
        return hkdf.derive(self._master)

    def _refresh_if_stale(self) -> None:
        if self._clock() - self._read_at >= self._refresh_s:
            self._rescan()

    def _rescan(self) -> None:
        keys: dict[str, bytes] = {}
        destroyed: dict[str, str] = {}
        names = os.listdir(self.directory) if self.directory.is_dir() else []
        for name in names:
            match = _FILE.fullmatch(name)
            if not match:
                continue
            kek_id, kind = f"{PREFIX}{int(match.group(1))}", match.group(2)
            text = (self.directory / name).read_text().strip()
            if kind == "destroyed":
                destroyed[kek_id] = text
                continue
            material = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if len(material) != _MATERIAL_BYTES:
                raise KeyMaterialError(f"{name}: not base64url of {_MATERIAL_BYTES} bytes")
            keys[kek_id] = self._derive(kek_id, material)
        for kek_id in destroyed:
            keys.pop(kek_id, None)  # a marker wins over material a crash left behind
        self._keys, self._destroyed, self._read_at = keys, destroyed, self._clock()

    def _write_new(self, path: Path, content: bytes) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(temporary, path)  # fails if it exists: an epoch is never overwritten
        temporary.unlink()
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
