#!/usr/bin/env bash
# The whole test suite: set up the machine (PostgreSQL included), build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DATAGATEWAY_TEST_DATABASE_URL="${DATAGATEWAY_TEST_DATABASE_URL:-postgres://datagateway:datagateway@127.0.0.1:5432/datagateway}"
export DATAGATEWAY_PYTHON="$PWD/.venv/bin/python"
echo "[test] building"
swift build --build-tests
swift test --skip-build "$@"
