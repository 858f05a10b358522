"""Every outside-input parser under the fuzzer: the committed corpus replayed in-process,
then a few seconds of coverage-guided fuzzing per target (``FUZZ_TEST_SECONDS``, default 2;
``make fuzz`` runs for longer and keeps what it learns under var/fuzz/)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).parent / "corpus"
SECONDS = int(os.environ.get("FUZZ_TEST_SECONDS", "2"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_corpus_replays_without_a_crash(name: str) -> None:
    seeds = sorted((CORPUS / name).iterdir())
    assert seeds, f"no seed for {name}: run python -m tests.fuzz.seed"
    for seed in seeds:
        TARGETS[name](seed.read_bytes())


def _fuzz(name: str, workdir: Path) -> tuple[str, int, str]:
    found = workdir / name
    found.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            name,
            f"-max_total_time={SECONDS}",
            f"-artifact_prefix={workdir}/{name}-",
            "-print_final_stats=0",
            str(found),  # libFuzzer writes new inputs to the first folder, not the committed one
            str(CORPUS / name),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    return name, run.returncode, run.stderr[-3000:]


@pytest.mark.slow
def test_no_target_crashes_in_a_short_fuzzing_run(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda name: _fuzz(name, tmp_path), sorted(TARGETS)))
    crashes = {name: log for name, rc, log in results if rc != 0}
    assert not crashes, "\n\n".join(f"{name}:\n{log}" for name, log in crashes.items())
