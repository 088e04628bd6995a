#!/usr/bin/env bash
# Create .venv (if missing) and install AIVA into it. Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "AIVA needs Python >= 3.11 (found: $("$PY" --version 2>&1))" >&2; exit 2
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.aiva-installed-$1
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v 'is ignored' || true
  if [ "$1" = dev ]; then spec='.[dev]'; else spec='.'; fi
  .venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v -e 'is ignored' -e '^\s*$' || true
  .venv/bin/python -c 'import aiva, temporalio, asyncpg, weasyprint' >/dev/null
  touch "$stamp"
fi
