"""The ``blindpost`` command line: one entry point for every service and operator tool.

Each service package contributes its commands through ``register(subparsers)`` in its
``cli`` module, listed in COMMAND_MODULES; ``blindpost run SERVICE`` starts a service.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.logging import configure_logging
from shared.settings import SettingsError

# Service name -> module with ``main(env) -> None`` that serves until SIGTERM.
SERVICES = {
    "intake": "services.intake.main",
    "vault": "services.vault.main",
    "resolver": "services.resolver.main",
    "dispatch-email": "services.dispatch.email_main",
    "dispatch-sms": "services.dispatch.sms_main",
    "dispatch-viber": "services.dispatch.viber_main",
    "dispatch-whatsapp": "services.dispatch.whatsapp_main",
    "dispatch-cim": "services.dispatch.cim_main",
    "status-ingest": "services.status_ingest.main",
    "callback-relay": "services.callback_relay.main",
    "projector": "services.eventstore.main",
    "bounce-receiver": "services.bounce.main",
    "deliverability": "services.deliverability.main",
    # Local stand-ins for the outside world (`make up`), never deployed.
    "smtp-sink": "services.dev.smtp_sink",
    "dev-sinks": "services.dev.sinks",
}

# Modules with ``register(subparsers)`` adding operator commands.
COMMAND_MODULES = (
    "services.admin_cli",
    "services.vault.cli",
    "services.vault.suppression_cli",
    "services.vault.subject_cli",
    "services.eventstore.cli",
    "services.dlq.cli",
    "services.dispatch.deliverability_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blindpost", description="Blindpost secured messaging gateway"
    )
    parser.add_argument(
        "--env-file",
        default=os.environ.get("BLINDPOST_ENV_FILE"),
        help="read settings from this file (KEY=value lines); the environment wins "
        "(e.g. deploy/local/blindpost.env for the local stack; default $BLINDPOST_ENV_FILE)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=sorted(SERVICES))
    run.set_defaults(handler=_run_service)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _run_service(args: argparse.Namespace) -> int:
    module = importlib.import_module(SERVICES[args.service])
    module.main()
    return 0


def load_env_file(path: str) -> None:
    """KEY=value lines into the environment, without overriding what is already set."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc.strerror}") from None
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            os.environ.setdefault(name.strip(), value.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "run":
        # An operator command's stdout is its report (JSON, CSV): its log lines go apart.
        configure_logging("cli", os.environ.get("BLINDPOST_LOG_LEVEL", "INFO"), stream="stderr")
    try:
        if args.env_file:
            load_env_file(args.env_file)
        return int(args.handler(args) or 0)
    except SettingsError as exc:
        # Names the variables, never their values (shared.settings).
        print(f"blindpost: {exc}", file=sys.stderr)
        if not args.env_file:
            print(
                "blindpost: for the local stack, pass --env-file deploy/local/blindpost.env "
                "(or export BLINDPOST_ENV_FILE)",
                file=sys.stderr,
            )
        return 2


if __name__ == "__main__":
    sys.exit(main())
