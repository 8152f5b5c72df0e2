#!/usr/bin/env bash
# Make sure `uv` exists; install it with pip when missing (no other network than PyPI here).
set -euo pipefail
PYTHON=${PYTHON:-python3}
have_uv() {
  command -v uv >/dev/null 2>&1 || [ -x "$HOME/.local/bin/uv" ] \
    || "$PYTHON" -c "import uv, os, sys; sys.exit(not os.path.exists(uv.find_uv_bin()))" 2>/dev/null
}
have_uv && exit 0
echo "bootstrap: installing uv with pip" >&2
"$PYTHON" -m pip install --quiet uv 2>/dev/null || "$PYTHON" -m pip install --quiet --user uv
have_uv || { echo "bootstrap: uv installed but not found; add ~/.local/bin to PATH" >&2; exit 1; }
