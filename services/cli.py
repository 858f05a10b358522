"""The ``blindpost`` command line: one entry point for every service and operator tool.

Each service package contributes its commands through ``register(subparsers)`` in its
``cli`` module, listed in COMMAND_MODULES; ``blindpost run SERVICE`` starts a service.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Service name -> module with ``main(env) -> None`` that serves until SIGTERM.
SERVICES = {
    "intake": "services.intake.main",
    "vault": "services.vault.main",
    "resolver": "services.resolver.main",
    "dispatch-email": "services.dispatch.email_main",
    "dispatch-sms": "services.dispatch.sms_main",
    "dispatch-cim": "services.dispatch.cim_main",
    "status-ingest": "services.status_ingest.main",
    "callback-relay": "services.callback_relay.main",
    "projector": "services.eventstore.main",
    "smtp-sink": "services.smtp_sink.main",
    "dev-sinks": "services.devsinks.main",
}

# Modules with ``register(subparsers)`` adding operator commands.
COMMAND_MODULES = (
    "services.admin_cli",
    "services.vault.cli",
    "services.eventstore.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blindpost", description="Blindpost secured messaging gateway"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=sorted(SERVICES))
    run.set_defaults(handler=_run_service)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a service still being built
        module.register(sub)
    return parser


def _run_service(args: argparse.Namespace) -> int:
    module = importlib.import_module(SERVICES[args.service])
    module.main()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
