"""What an image context needs built on the host first, because a container cannot fetch it.

Inside a build container Debian's mirror answers, but pip, go and npm over TLS do not (the host's CA
bundle is not in the image). So a context that holds `wheels.txt` gets those exact wheels downloaded
on the host, and one that holds `go.mod` (or a std-only `main.rs`) gets its binary built on the host;
both land in the context's `.host/` folder (git-ignored, kept as a cache), from where its Dockerfile copies them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError

Log = Callable[[str], None]
HOST_DIR = ".host"
WHEELS_FILE = "wheels.txt"
GO_MODULE_FILE = "go.mod"
RUST_MAIN_FILE = "main.rs"  # a single-file Rust program with the standard library only
PYTHON_VERSION = "3.11"  # Debian bookworm's python3
WHEEL_PLATFORM = "manylinux2014_x86_64"
STEP_TIMEOUT_S = 600


def prepare(context: Path, log: Log) -> None:
    """Build or fetch what the context's Dockerfile copies from `.host/`; quick when cached."""
    if (context / WHEELS_FILE).exists():
        fetch_wheels(context, log)
    if (context / GO_MODULE_FILE).exists():
        build_go(context, log)
    if (context / RUST_MAIN_FILE).exists():
        build_rust(context, log)


def wheel_pins(context: Path) -> list[str]:
    """The `name==version` lines of wheels.txt: every package pinned, dependencies included."""
    pins = []
    for number, raw in enumerate((context / WHEELS_FILE).read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise LabError(f"{context / WHEELS_FILE}:{number}: pin every wheel as name==version, not {line!r}")
        pins.append(line)
    return pins


def fetch_wheels(context: Path, log: Log) -> None:
    pins = wheel_pins(context)
    target = context / HOST_DIR / "wheels"
    stamp = target / ".pins.sha256"
    want = hashlib.sha256("\n".join(pins).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    log(f"downloading {len(pins)} wheels for {context.name} (Python {PYTHON_VERSION}, {WHEEL_PLATFORM})")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
          "--platform", WHEEL_PLATFORM, "-d", str(target), *pins], what=f"pip download for {context.name}")
    stamp.write_text(want)


def build_go(context: Path, log: Log) -> None:
    go = shutil.which("go")
    if not go:
        raise LabError(f"building {context.name} needs Go on the host: install golang-go")
    target = context / HOST_DIR / "server"
    target.parent.mkdir(exist_ok=True)
    log(f"building {context.name}'s Go binary on the host (CGO_ENABLED=0, the toolchain its go.mod names)")
    # GOTOOLCHAIN=auto: a go.mod's `toolchain` line newer than the host's Go is fetched from the module proxy, so a
    # board server is built with the release its go.mod pins, not whatever Go this machine happens to have.
    env = {**os.environ, "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOTOOLCHAIN": "auto"}
    _run([go, "build", "-trimpath", "-o", str(target), "."], cwd=context, env=env, what=f"go build of {context.name}")


def build_rust(context: Path, log: Log) -> None:
    """rustc on the host (this machine is Debian bookworm, like the image's base: its glibc fits)."""
    rustc = shutil.which("rustc") or str(Path.home() / ".cargo" / "bin" / "rustc")
    if not Path(rustc).exists():
        raise LabError(f"building {context.name} needs rustc on the host: install rustc")
    target = context / HOST_DIR / "server"
    target.parent.mkdir(exist_ok=True)
    log(f"building {context.name}'s Rust binary on the host (rustc -O, std only)")
    partial = target.with_name(f".{target.name}.partial")  # an interrupted build never leaves half a binary
    _run([rustc, "-O", "--edition", "2021", "-o", str(partial), RUST_MAIN_FILE], cwd=context,
         what=f"rustc of {context.name}")
    partial.replace(target)


def _run(command: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=STEP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} took over {STEP_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
        raise LabError(f"{what} failed: {tail[0]}")
