#!/usr/bin/env bash
# The end-to-end benchmark (BENCHMARKS.md): the seeded data set on librdkafka's mock
# cluster, then on tansu when it is installed (scripts/test.sh installs it). Extra
# arguments go to `lakestream bench` (try --help), e.g. --events 200000 for a quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_packages
cargo build --release --bin lakestream
bin="$CARGO_TARGET_DIR/release/lakestream"

echo "== broker: librdkafka mock cluster"
"$bin" bench "$@"

tansu="${TANSU_BIN:-$CACHE/tools/bin/tansu}"
if [ -x "$tansu" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  RUST_LOG=warn "$tansu" broker --kafka-listener-url "tcp://127.0.0.1:$port" \
    --kafka-advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >/dev/null 2>&1 &
  tansu_pid=$!
  trap 'kill $tansu_pid 2>/dev/null' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
  echo
  echo "== broker: tansu ($("$tansu" --version 2>/dev/null || echo tansu)) at 127.0.0.1:$port"
  "$bin" bench --bootstrap "127.0.0.1:$port" "$@"
else
  echo "tansu not installed ($tansu): skipped the tansu run"
fi
