"""`make lint`'s dependency audit: pip-audit over the installed (locked) environment.

pip-audit needs its vulnerability service over HTTPS: by default PyPI's JSON API
(``https://pypi.org/pypi/<name>/<version>/json``), or OSV (``https://api.osv.dev``) with
``BLINDPOST_AUDIT_SERVICE=osv``; behind a proxy set ``HTTPS_PROXY``.  It has no offline
database.  Where the service cannot be reached (a sandbox, a mirror without the JSON API)
the audit is *not done*: this says so loudly, lists what it needs, and exits 0 so that lint
still runs, unless ``BLINDPOST_AUDIT_REQUIRED=1`` (set it in CI that has the network), where
an audit that could not be done fails.  A known vulnerability always fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NEEDS = (
    "pip-audit needs HTTPS to its vulnerability service: pypi.org's JSON API "
    "(/pypi/<name>/<version>/json), or api.osv.dev with BLINDPOST_AUDIT_SERVICE=osv; "
    "set HTTPS_PROXY behind a proxy"
)


def main() -> int:
    service = os.environ.get("BLINDPOST_AUDIT_SERVICE", "pypi")
    required = os.environ.get("BLINDPOST_AUDIT_REQUIRED") == "1"
    audit = Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        run = subprocess.run(  # noqa: S603 - our own venv's pip-audit, fixed arguments
            [
                str(audit),
                "--skip-editable",  # blindpost itself is installed editable
                "--vulnerability-service",
                service,
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(report),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        dependencies = json.loads(report.read_text())["dependencies"] if report.exists() else []
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"pip-audit: {dependency['name']} {dependency['version']}: {ids}")
    if vulnerable:
        return 1
    if not audited:  # no report, or every package skipped: the service did not answer
        print(f"pip-audit: NOT DONE, the {service} vulnerability service is unreachable. {NEEDS}")
        return 1 if required else 0
    skipped = len(dependencies) - len(audited)
    print(
        f"pip-audit: {len(audited)} installed packages, no known vulnerability"
        + (f" ({skipped} could not be audited)" if skipped else "")
    )
    return 0 if run.returncode == 0 or not required else 1


if __name__ == "__main__":
    sys.exit(main())
