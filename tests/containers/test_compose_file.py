"""deploy/compose/compose.yaml gives the vault its KEK epochs as the chart and `make up` do:
a one-shot `vault rotate-epochs` writes the epochs' material to a volume before the vault
starts, and the vault reads it there, read-only (docs/vault.md, Backups).  Read from the file:
the whole stack runs in `make compose-test`."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "compose.yaml"
EPOCHS_DIR = "BLINDPOST_VAULT_KEK_EPOCHS_DIR"


def _mounts(service: dict) -> dict[str, tuple[str, str]]:
    """volume -> (where, mode) of a service's named-volume mounts."""
    mounts = {}
    for spec in service.get("volumes", []):
        volume, where, *mode = spec.split(":")
        mounts[volume] = (where, mode[0] if mode else "rw")
    return mounts


def test_the_vault_reads_the_kek_epochs_a_one_shot_rotate_epochs_wrote_first() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    vault = services["vault"]
    epochs_dir = vault["environment"][EPOCHS_DIR]
    rotations = [
        name
        for name, service in services.items()
        if service.get("command", [])[:2] == ["vault", "rotate-epochs"]
    ]
    assert len(rotations) == 1, rotations
    rotation = services[rotations[0]]
    assert rotation["environment"][EPOCHS_DIR] == epochs_dir
    assert vault["depends_on"][rotations[0]] == {"condition": "service_completed_successfully"}

    shared = set(_mounts(vault)) & set(_mounts(rotation))
    assert len(shared) == 1 and shared <= set(compose["volumes"]), shared
    volume = shared.pop()
    (read_at, read_mode), (written_at, written_mode) = (
        _mounts(vault)[volume],
        _mounts(rotation)[volume],
    )
    assert read_at == written_at and (read_mode, written_mode) == ("ro", "rw")
    assert Path(epochs_dir).is_relative_to(read_at)
