#!/usr/bin/env bash
# The whole test suite: unit tests, mock-cluster and tansu end-to-end tests, crash tests,
# the DuckDB reader test. Installs what is missing first (see lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_packages
ensure_duckdb
ensure_tansu
cargo build --release --workspace --all-targets
cargo test --release --workspace "$@"
