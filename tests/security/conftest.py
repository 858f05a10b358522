"""The security tests reuse each area's running-service fixtures."""

from tests.status_ingest.conftest import ingest, ingest_extra_env, sns_stand_in

__all__ = ["ingest", "ingest_extra_env", "sns_stand_in"]
