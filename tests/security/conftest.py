# The dispatcher and intake fixtures, shared rather than copied: the security tests drive the
# real services.
from tests.dispatch.conftest import dispatch_env, keypair  # noqa: F401 - pytest fixtures
from tests.intake.conftest import intake_env  # noqa: F401 - a pytest fixture
