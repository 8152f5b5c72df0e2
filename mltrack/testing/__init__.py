"""Test helpers that stand in for what cannot run here (LLM vendor APIs).

Importing this package is cheap; it needs no MLflow.
"""

from __future__ import annotations

from mltrack.testing.fake_llm import FakeLLMServer, count_tokens, fake_reply

__all__ = ["FakeLLMServer", "count_tokens", "fake_reply"]
