# Shared setup for scripts/demo.sh and scripts/test.sh: installs what a fresh Debian
# machine with only a Rust toolchain lacks. Everything heavy is cached under
# /var/tmp/lakestream (outside the clone), so a second run starts warm.

CACHE=${LAKESTREAM_CACHE:-/var/tmp/lakestream}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
mkdir -p "$CACHE"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# librocksdb-sys needs libclang; librdkafka builds with the C toolchain.
ensure_build_packages() {
  local missing=()
  for pkg in libclang-dev build-essential pkg-config libssl-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
  fi
}

# tansu, a Kafka-compatible broker for the end-to-end tests (crates.io).
ensure_tansu() {
  export TANSU_BIN="$CACHE/tools/bin/tansu"
  if [ ! -x "$TANSU_BIN" ]; then
    echo "installing tansu (first time only, about 20 minutes)"
    CARGO_TARGET_DIR="$CACHE/tansu-target" cargo install tansu --locked --features dynostore --root "$CACHE/tools"
  fi
}

# DuckDB (PyPI) as an independent reader of the lake, in a private virtualenv.
ensure_duckdb() {
  export LAKESTREAM_PYTHON="$CACHE/venv/bin/python"
  if ! "$LAKESTREAM_PYTHON" -c 'import duckdb' 2>/dev/null; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv
    fi
    rm -rf "$CACHE/venv"
    python3 -m venv "$CACHE/venv"
    "$CACHE/venv/bin/pip" install --quiet duckdb
  fi
  # moto's S3 server, the S3-compatible store of the object-store tests.
  if [ ! -x "$CACHE/venv/bin/moto_server" ]; then
    "$CACHE/venv/bin/pip" install --quiet 'moto[server]'
  fi
}

# Tools the tests drive: promtool and a Prometheus server (package prometheus), headless
# Chromium for the status page, stunnel and openssl for the Kafka TLS listener, and
# docker-compose to validate deploy/docker-compose.yml (no Docker daemon needed).
ensure_test_tools() {
  local missing=()
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v stunnel4 >/dev/null 2>&1 || missing+=(stunnel4)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing test tools: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
