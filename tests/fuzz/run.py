"""Run one fuzz target under atheris (libFuzzer): ``python -m tests.fuzz.run NAME [libFuzzer
options]``, e.g. ``-max_total_time=60 var/fuzz/corpus/NAME tests/fuzz/corpus/NAME``.  A crash
leaves its input where ``-artifact_prefix`` says and exits non-zero."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["services", "shared"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    name, *options = sys.argv[1:]
    atheris.Setup([sys.argv[0], *options], TARGETS[name], enable_python_coverage=True)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
