#!/usr/bin/env bash
# `make bench`: the single entry point. Installs what the benchmark needs (idempotent, quick when
# done), then runs `python -m bench` with any arguments given (e.g. --skip-lab, --only cpu).
#   1. wrk, nginx-light, strace and taskset: installed with apt-get when root on Debian and missing;
#   2. .venv-bench, a separate venv from the pinned requirements-bench.txt (uvicorn, uvloop,
#      httptools, matplotlib), so none of these reach server/, clients/ or requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
VENV=${BENCH_VENV:-.venv-bench}
PYTHON=${PYTHON:-python3}
POLICY=/usr/sbin/policy-rc.d

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

ensure_tools() {
    local missing=()
    have wrk || missing+=(wrk)
    have nginx || missing+=(nginx-light)
    have taskset || missing+=(util-linux)
    have strace || missing+=(strace)
    [ ${#missing[@]} = 0 ] && return 0
    can_install || die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
    say "installing ${missing[*]} (apt-get)"
    local own_policy=""
    if [ ! -e "$POLICY" ]; then
        # Debian starts a package's service on install: no system nginx on port 80, please.
        printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && own_policy=1
    fi
    local status=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; } || status=$?
    [ -n "$own_policy" ] && rm -f "$POLICY"
    [ "$status" = 0 ] || die "apt-get install ${missing[*]} failed"
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum requirements-bench.txt | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON: install Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
    say "creating $VENV (requirements-bench.txt)"
    "$PYTHON" -m venv "$VENV" || die "cannot create a virtualenv: install python3-venv"
    echo '*' >"$VENV/.gitignore"  # git, and ruff through it, skip the venv
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-bench.txt
    echo "$want" >"$stamp"
}

ensure_tools
ensure_venv
exec "$VENV/bin/python" -m bench "$@"
