#!/usr/bin/env bash
# The demo: in-process Kafka, generated learning events, the real pipeline, a lake in
# ./demo-lake. Extra arguments go to `lakestream demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_packages
cargo run --release --bin lakestream -- demo "$@"
