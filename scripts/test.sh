#!/usr/bin/env bash
# The whole test suite: set up the machine (PostgreSQL included), build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DATAGATEWAY_TEST_DATABASE_URL="${DATAGATEWAY_TEST_DATABASE_URL:-postgres://datagateway:datagateway@127.0.0.1:5432/datagateway}"
export DATAGATEWAY_PYTHON="$PWD/.venv/bin/python"
# Screenshots of the pages tested in chromium (the dashboard's) are kept here, beside the run's log.
export DATAGATEWAY_ARTIFACTS="${DATAGATEWAY_ARTIFACTS:-$PWD/.ci/artifacts}"
mkdir -p "$DATAGATEWAY_ARTIFACTS"
echo "[test] screenshots of pages tested in chromium go to $DATAGATEWAY_ARTIFACTS"
# Every database this run creates is named dg_test_<run>_…; they are dropped when the run ends, however it ends,
# and leftovers of earlier runs (killed ones) before it starts.
export DATAGATEWAY_TEST_RUN="${DATAGATEWAY_TEST_RUN:-$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
bash scripts/drop-test-databases.sh
trap 'bash scripts/drop-test-databases.sh "$DATAGATEWAY_TEST_RUN" || true' EXIT
echo "[test] checking the format (swift format lint, .swift-format)"
swift format lint --strict --configuration .swift-format --recursive --parallel Sources Tests Package.swift
echo "[test] building"
swift build --build-tests
swift test --skip-build "$@"
