#!/usr/bin/env bash
# Installs what is missing, then runs the static checks and the whole test suite
# (real engines on real media from ../shared/media; real PostgreSQL and Redis on loopback,
# SeaweedFS S3 and the Temporal dev server started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/services.sh
export HF_HUB_OFFLINE=1
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
