#!/usr/bin/env bash
# Installs what the black-box integration suite (tests/) needs: Apache ZooKeeper 3.8 from Debian
# (the reference server and the zkCli.sh / cli_mt clients), a JRE, and a Python venv at
# <repo>/.venv with kazoo and pytest. Idempotent: every step is skipped when already satisfied.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
KAZOO_VERSION="2.10.0"
PYTEST_VERSION="8.3.5"

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install Debian packages"
    SUDO="sudo"
fi

# --- Debian packages -------------------------------------------------------------------------
missing=()
dpkg -s zookeeper >/dev/null 2>&1 || missing+=(zookeeper)
dpkg -s zookeeper-bin >/dev/null 2>&1 || missing+=(zookeeper-bin)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get"
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
    log "Debian packages already present"
fi

for f in /usr/share/java/zookeeper.jar /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt; do
    [ -e "$f" ] || die "$f not found after installing zookeeper packages"
done
command -v java >/dev/null 2>&1 || die "java not found after install"

# --- Python venv -----------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed"
fi

have_versions() {
    "$VENV/bin/python" - "$KAZOO_VERSION" "$PYTEST_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if (version("kazoo"), version("pytest")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if have_versions; then
    log "kazoo $KAZOO_VERSION and pytest $PYTEST_VERSION already installed"
else
    log "pip installing kazoo==$KAZOO_VERSION pytest==$PYTEST_VERSION"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
        "kazoo==$KAZOO_VERSION" "pytest==$PYTEST_VERSION" || die "pip install failed"
    have_versions || die "kazoo/pytest not importable after pip install"
fi
log "ok"
