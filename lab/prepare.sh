#!/usr/bin/env bash
# Makes this machine able to run the lab, saying what it does. Idempotent and quick when done.
#   1. a running Docker engine: on Debian as root, installs docker.io and starts dockerd if needed;
#   2. the pinned Python environment in .venv (docker SDK, toxiproxy-python, compose v2, pytest);
#   3. the images (`python -m lab images`): public ones where a registry answers, else offline
#      stand-ins (a debootstrap base, Toxiproxy built from its Go module).
# On a machine with Docker and a registry it touches nothing outside this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "epoll-lab: $*" >&2; }
die() { echo "epoll-lab: error: $*" >&2; exit 1; }
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DOCKERD_LOG=/var/log/epoll-lab-dockerd.log

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

ensure_engine() {
    if docker info >/dev/null 2>&1; then return 0; fi
    if ! can_install; then
        command -v docker >/dev/null 2>&1 \
            || die "Docker is not installed, and installing it needs root on Debian: install Docker Engine"
        die "the Docker engine is not running (or not yours to use): start it, e.g. 'sudo systemctl start docker'"
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        say "installing the Docker engine (apt-get install docker.io)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        say "starting dockerd in the background (log: $DOCKERD_LOG)"
        nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    fi
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.5  # polling the engine's socket, bounded to 60 s
    done
    die "dockerd did not come up within 60 s: see $DOCKERD_LOG"
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum requirements.txt | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON: install Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
    if ! "$PYTHON" -m venv --help >/dev/null 2>&1 && can_install; then
        say "installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    say "creating the Python environment in $VENV (requirements.txt)"
    "$PYTHON" -m venv "$VENV" || die "cannot create a virtualenv: install python3-venv"
    # --no-compile: pip would compile every package (mypy's and ruff's included) for 7 of its 15 s; Python compiles
    # what is imported, once, on first use.
    "$VENV/bin/pip" install -q --no-compile --disable-pip-version-check -r requirements.txt
    echo "$want" >"$stamp"
}

# actionlint (make lint) built from its Go module, as the offline Toxiproxy is, into .lab/ (the lab's cache, git-ignored),
# one folder per pinned version; prints the binary's path.
ACTIONLINT_VERSION=v1.7.12
ensure_actionlint() {
    local bin=".lab/tools/actionlint-$ACTIONLINT_VERSION/actionlint"
    if [ ! -x "$bin" ]; then
        if ! command -v go >/dev/null 2>&1; then
            can_install || die "building actionlint needs Go: install golang-go"
            say "installing Go (apt-get install golang-go)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
        fi
        say "building actionlint $ACTIONLINT_VERSION from its Go module"
        mkdir -p "$(dirname "$bin")"
        # GOTOOLCHAIN=auto: a Go older than the one actionlint's go.mod asks for fetches that one from the module proxy.
        GOBIN="$PWD/$(dirname "$bin")" CGO_ENABLED=0 GOTOOLCHAIN=auto \
            go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2 \
            || die "go install of actionlint $ACTIONLINT_VERSION failed"
    fi
    echo "$bin"
}

# Every container gets a TCP connection table of its own (Linux 6.1+), made when its network namespace is: the
# probe reads /proc/net/tcp{,6} four times a second, and through the host's shared table (256K buckets here) each
# read walks every bucket, 9 ms of CPU; through 16K buckets it is under 1 ms. The compose file sets the target's
# SYN and TIME_WAIT limits, which the table's size would otherwise set. Only as root, only when unset.
CHILD_EHASH_ENTRIES=16384
tune_host() {
    local knob=/proc/sys/net/ipv4/tcp_child_ehash_entries
    [ "$(id -u)" = 0 ] && [ -w "$knob" ] && [ "$(cat "$knob")" = 0 ] || return 0
    say "net.ipv4.tcp_child_ehash_entries=$CHILD_EHASH_ENTRIES (a TCP table per container: cheaper probe readings)"
    echo "$CHILD_EHASH_ENTRIES" >"$knob" || say "could not set it: the lab works, its probe costs more CPU"
}

case "${1:-all}" in
    engine) ensure_engine; tune_host ;;
    venv) ensure_venv ;;
    actionlint) ensure_actionlint ;;
    all)
        ensure_engine
        tune_host
        ensure_venv
        "$VENV/bin/python" -m lab images
        ;;
    *) die "usage: lab/prepare.sh [engine|venv|actionlint|all]" ;;
esac
