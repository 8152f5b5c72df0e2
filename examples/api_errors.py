"""Errors: every error mltrack raises on purpose is an `MltrackError`.

Catch the specific class when you can handle it (a missing model, a denied request), or
`MltrackError` for all of them; the message is one line naming the problem and the fix.
"""

import mltrack
from mltrack.errors import ConfigError, MltrackError, ModelNotFoundError, RunNotFoundError

try:
    mltrack.promote("no-such-model", "1")
except ModelNotFoundError as exc:
    print(f"{type(exc).__name__}: {exc}")

try:
    mltrack.get_run("0" * 32)
except RunNotFoundError as exc:
    print(f"{type(exc).__name__}: {exc}")

try:
    mltrack.load_settings(environ={"MLTRACK_LLM__WARN_AT": "3"})
except MltrackError as exc:  # the base class catches every mltrack error
    print(f"{type(exc).__name__}: {exc}")
    config_error = exc

for cls in (ModelNotFoundError, RunNotFoundError, ConfigError):
    print(
        cls.__name__,
        "->",
        " -> ".join(c.__name__ for c in cls.__mro__[1 : cls.__mro__.index(Exception)]),
    )

# --- checks ---
assert isinstance(config_error, ConfigError), type(config_error)
assert issubclass(ModelNotFoundError, MltrackError) and issubclass(RunNotFoundError, MltrackError)
