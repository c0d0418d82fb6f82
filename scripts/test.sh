#!/usr/bin/env bash
# Runs the whole StreamBus test suite on a fresh Debian machine with a Rust toolchain:
# installs what the tests need, then checks formatting, lints with clippy, and runs every
# test. This is the command CI runs (.ci/run) and the one the README gives.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and the tests need: the C toolchain, zlib for librdkafka (the
# rdkafka crate builds it), and for tests/compat kcat and Python's venv.
DEBIAN_PACKAGES=(gcc make zlib1g-dev kcat python3-venv)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

install_rust_components() {
  if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  fi
}

install_debian_packages
install_rust_components

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "==> compatibility tests with third-party clients (tests/compat)"
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
cargo build --locked -p streambus
bash tests/compat/run.sh target/debug/streambus
bash tests/compat/cluster_run.sh target/debug/streambus
