#!/usr/bin/env bash
# One command: install, start embedded PostgreSQL + Temporal dev server (+ UI) + a worker,
# run a pipeline over the bundled example reports, print where the reports and the UI are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh run
exec .venv/bin/aiva demo "$@"
