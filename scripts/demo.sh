#!/usr/bin/env bash
# The main job: set up the machine, build, and run the narrated demo of the whole exchange.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[demo] building (first build takes several minutes)"
swift build --product gateway
exec .build/debug/gateway demo "$@"
