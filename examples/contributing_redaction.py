"""Redaction settings: more variable names and patterns in `.mltrack.yml`, and what they hide.

The docs engine builds the same redactor from the project's settings; here it runs on a few
lines an example might print.
"""

import tempfile
from pathlib import Path

from mltrack.config import load_settings
from mltrack.livedocs.redact import redactor_for

CONFIG = r"""
docs:
  redact_env: [SERVICE_AUTH, "ACME_*"]  # exact names or * globs, any case
  redact_patterns:
    - 'internal-\d{6}'                  # an internal id
    - 'session=(?P<secret>[0-9a-f]{32})' # only the value after session=
"""

with tempfile.TemporaryDirectory() as project:
    (Path(project) / ".mltrack.yml").write_text(CONFIG)
    docs = load_settings(start=Path(project), environ={}).docs

# The build's environment: two secrets under the names added above.
environment = {"SERVICE_AUTH": "svc-7f3a9b2c1d", "ACME_DEPLOY_KEY": "acme-5e6f7a8b9c"}
redact = redactor_for(
    docs.redact_env_patterns, docs.redact_env, docs.redact_patterns, environ=environment
)
printed = [
    "calling the service with svc-7f3a9b2c1d",
    "deploy key acme-5e6f7a8b9c, ticket internal-123456",
    "cookie session=0123456789abcdef0123456789abcdef; path=/",
]
for line in printed:
    print(redact(line))

# --- checks ---
shown = [redact(line) for line in printed]
assert shown[0] == "calling the service with [redacted]", shown[0]
assert "acme-5e6f7a8b9c" not in shown[1] and "internal-123456" not in shown[1], shown[1]
assert shown[2].startswith("cookie session=[redacted]"), shown[2]  # the name stays
