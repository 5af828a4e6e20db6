#!/usr/bin/env bash
# The whole test suite: unit tests, mock-cluster and tansu end-to-end tests, crash tests,
# the DuckDB reader test, promtool, Prometheus and headless Chromium. Installs what is
# missing first (see lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_packages
ensure_duckdb
ensure_tansu
ensure_test_tools
cargo build --release --workspace --all-targets
# --all-targets: every test binary, plus a smoke run of each benchmark; no doc-tests.
log="$CACHE/test-output.log"
# --no-fail-fast: a failing test binary must not hide the results of the others.
cargo test --release --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log"
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
