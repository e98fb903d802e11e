#!/usr/bin/env bash
# Installs and starts everything DataGateway needs on a fresh Debian 12 machine (as root), idempotently:
# system libraries, PostgreSQL 15 with the `datagateway` role, and a Python venv with the test oracles.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# chromium and chromium-driver: the citizen's page is tested in a real headless browser (selenium drives it).
packages=(postgresql postgresql-contrib postgresql-client systemd libgmp-dev libssl-dev libpq-dev pkg-config libcurl4 openssl python3 python3-venv
    chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL: the server refuses to run as root, so the cluster is driven through pg_ctlcluster (as postgres).
if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 \+main'; then
    log "creating PostgreSQL cluster 15/main"
    pg_createcluster 15 main >/dev/null
fi
if ! pg_lsclusters -h | grep -q '^15 \+main .* online'; then
    log "starting PostgreSQL"
    # After an unclean shutdown the server fsyncs its data directory before recovery, which can outlast
    # pg_ctl's default 60 s wait on a large cluster: allow 15 minutes.
    pg_ctlcluster 15 main start -- -t 900
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not become ready on 127.0.0.1:5432" >&2; exit 1; }

# From /, which the postgres user can always enter (a checkout under a private temp directory it cannot).
as_postgres() { (cd / && runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt "$@"); }
if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'datagateway'")" != "1" ]; then
    log "creating role datagateway"
    as_postgres -c "CREATE ROLE datagateway LOGIN PASSWORD 'datagateway' CREATEDB"
fi
# The suite runs live nodes (each with its pool) beside multi-node clusters: PostgreSQL's default of 100
# connections ran out. 400 slots; a change needs a restart.
if [ "$(as_postgres -c "SHOW max_connections")" -lt 400 ]; then
    log "raising PostgreSQL max_connections to 400 (restart)"
    as_postgres -c "ALTER SYSTEM SET max_connections = 400"
    pg_ctlcluster 15 main restart -- -t 900
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = 'datagateway'")" != "1" ]; then
    as_postgres -c "CREATE DATABASE datagateway OWNER datagateway"
fi

# Python oracles for the tests (installed from PyPI into a venv, never into the system); refreshed whenever
# scripts/requirements-oracles.txt changes.
stamp=.venv/.requirements.sha256
wanted=$(sha256sum scripts/requirements-oracles.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    log "installing the test oracles into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-oracles.txt
    echo "$wanted" > "$stamp"
fi
log "ready"
