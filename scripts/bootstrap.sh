#!/usr/bin/env bash
# Create .venv (if missing) and install AIVA into it.
#   bootstrap.sh run   AIVA itself (what demo.sh needs)
#   bootstrap.sh dev   AIVA + test tools + the scanners for `aiva start --scan-dir`
#                      (bandit, semgrep, detect-secrets in .venv; checkov in .venv-checkov, because its
#                      pinned dependencies conflict with AIVA's, linked into .venv/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "AIVA needs Python >= 3.11 (found: $("$PY" --version 2>&1))" >&2; exit 2
fi
quiet() { grep -v -e 'is ignored' -e '^\s*$' || true; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.aiva-installed-$1
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet
  if [ "$1" = dev ]; then spec='.[dev,scanners]'; else spec='.'; fi
  .venv/bin/python -m pip install -q -e "$spec" 2>&1 | quiet
  .venv/bin/python -c 'import aiva, temporalio, asyncpg, weasyprint' >/dev/null
  if [ "$1" = dev ]; then
    [ -x .venv-checkov/bin/python ] || "$PY" -m venv .venv-checkov
    .venv-checkov/bin/python -m pip install -q 'checkov>=3.2' 2>&1 | quiet
    ln -sf "$PWD/.venv-checkov/bin/checkov" .venv/bin/checkov
  fi
  touch "$stamp"
fi
