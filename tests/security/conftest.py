"""The security tests drive the real services: each area's fixtures, shared rather than
copied."""

from tests.dispatch.conftest import dispatch_env, keypair
from tests.intake.conftest import intake_env
from tests.status_ingest.conftest import ingest, ingest_extra_env, sns_stand_in

__all__ = ["dispatch_env", "ingest", "ingest_extra_env", "intake_env", "keypair", "sns_stand_in"]
