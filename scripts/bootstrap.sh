#!/usr/bin/env bash
# Make sure `uv` exists; install it with pip when missing (no other network than PyPI here).
set -euo pipefail
if command -v uv >/dev/null 2>&1 || [ -x "$HOME/.local/bin/uv" ]; then
  exit 0
fi
echo "bootstrap: installing uv with pip" >&2
python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --user uv
command -v uv >/dev/null 2>&1 || [ -x "$HOME/.local/bin/uv" ] || {
  echo "bootstrap: uv is still not on PATH; add ~/.local/bin to PATH" >&2; exit 1; }
