# The dispatcher fixtures, shared rather than copied: the security tests drive real dispatchers.
from tests.dispatch.conftest import dispatch_env, keypair  # noqa: F401 - pytest fixtures
