#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Debian's
# ZooKeeper 3.8 as reference server and clients, a Python venv with kazoo and pytest, the
# microcontroller target), builds herd, then runs
#   1. the Rust unit and property tests of every crate,
#   2. the no-std proof (a binary with no std, no allocator, own panic handler, naming the
#      core and the embedded shell) and the core's build for thumbv7em-none-eabihf,
#   3. the black-box client suite (kazoo, zkCli, cli_mt, raw wire) against herd AND
#      Apache ZooKeeper, the same tests on both.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
step() { printf '\n=== %s ===\n' "$*"; }

step "install test dependencies"
bash scripts/install-test-deps.sh
if rustup target list --installed | grep -q thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf; then
    THUMB=1
else
    echo "note: the thumbv7em-none-eabihf target cannot be installed here; skipping that build only"
    THUMB=0
fi

step "build herd (release)"
cargo build --release -p shell-std

step "Rust unit and property tests"
cargo test --release --workspace
# The core once more with debug assertions on: its invariants are checked there.
cargo test -p proto-core

step "no-std proof: link proto-core and shell-embedded without std or alloc"
(cd nostd-check && cargo build --release)
if [ "$THUMB" = 1 ]; then
    step "build proto-core and shell-embedded for thumbv7em-none-eabihf"
    cargo build --release --target thumbv7em-none-eabihf -p proto-core -p shell-embedded
fi

step "client suite against herd and Apache ZooKeeper 3.8"
HERD_BIN="$REPO/target/release/herd" "$REPO/.venv/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
