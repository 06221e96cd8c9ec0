#!/usr/bin/env bash
# Runs the black-box integration suite: installs its dependencies (idempotent), then pytest.
# Targets: --target herd,zookeeper or $HERD_TEST_TARGETS (default both); herd's binary is
# $HERD_BIN (default target/release/herd). Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/install-test-deps.sh
exec "$REPO/.venv/bin/python" -m pytest tests -q "$@"
