"""Redaction of secrets and normalisation of build-specific strings in captured output."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "Scrubber", "secret_values"]

REDACTED = "[redacted]"


def secret_values(
    patterns: Iterable[str], environ: Mapping[str, str] | None = None, min_length: int = 4
) -> list[str]:
    """Values of environment variables whose names contain one of ``patterns``.

    Short values (``"1"``, ``"on"``) are skipped: redacting them would mangle output.
    Longest first, so that a secret containing another is replaced whole.
    """
    env = os.environ if environ is None else environ
    upper = [p.upper() for p in patterns]
    values = {
        value
        for name, value in env.items()
        if any(p in name.upper() for p in upper) and len(value) >= min_length
    }
    return sorted(values, key=len, reverse=True)


class Scrubber:
    """Replace secrets with ``[redacted]`` and build-specific strings with stable ones.

    Args:
        secrets: values to redact.
        replacements: literal substitutions applied after redaction (temp paths, the
            throwaway server's URL), longest first.
    """

    def __init__(self, secrets: Iterable[str], replacements: Mapping[str, str] | None = None):
        self.secrets = [s for s in secrets if s]
        self.replacements = sorted((replacements or {}).items(), key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for old, new in self.replacements:
            if old:
                text = text.replace(old, new)
        return text
