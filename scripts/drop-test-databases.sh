#!/usr/bin/env bash
# Drops the databases integration tests created (named dg_test_<run>_…) so that the PostgreSQL cluster does not
# grow run after run (thousands of leftover databases once made crash recovery fsync for over a minute).
#   drop-test-databases.sh            leftovers of earlier runs that nobody is connected to
#   drop-test-databases.sh RUN        every database of run RUN, disconnecting its sessions
set -euo pipefail
url="${DATAGATEWAY_TEST_DATABASE_URL:-postgres://datagateway:datagateway@127.0.0.1:5432/datagateway}"
maintenance="${url%/*}/postgres"
if [ $# -gt 0 ]; then
    [[ "$1" =~ ^[a-z0-9]{1,8}$ ]] || { echo "run tag must be 1-8 lowercase letters or digits, got '$1'" >&2; exit 2; }
    pattern="dg\\_test\\_$1\\_%"
    force=" WITH (FORCE)"
else
    pattern='dg\_test\_%'
    force=""
fi
# One psql session; a database still in use (a concurrent run's) fails to drop and is left alone.
statements=$(psql "$maintenance" -qAtX -c "SELECT format('DROP DATABASE IF EXISTS %I$force;', datname) FROM pg_database WHERE datname LIKE '$pattern' ORDER BY datname")
[ -n "$statements" ] || exit 0
count=$(printf '%s\n' "$statements" | wc -l)
failed=$(printf '%s\n' "$statements" | psql "$maintenance" -qAtX 2>&1 | grep -c '^ERROR' || true)
if [ "$failed" -gt 0 ]; then
    echo "[test] dropped $((count - failed)) test database(s); $failed in use by another run were left"
else
    echo "[test] dropped $count test database(s)"
fi
