"""The lab's images: built from this repository, or offline stand-ins for public ones.

Real users build from `debian:bookworm-slim` and run `ghcr.io/shopify/toxiproxy`. A machine
that reaches no container registry gets a debootstrap base and a Toxiproxy built from its Go
module; the choice is recorded in .lab/images.env so later commands use the same images.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lab import engine, host_builds, settings
from lab.errors import LabError

Log = Callable[[str], None]
SOURCE_LABEL = "io.epoll-lab.source"
BUILD_TIMEOUT_S = 900
PULL_TIMEOUT_S = 300
COPY_TIMEOUT_S = 600
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    context: Path  # the Dockerfile sits at its root

    def source_hash(self, base: str) -> str:
        """Changes whenever a file of the context or the base image name changes."""
        digest = hashlib.sha256(base.encode())
        for path in sorted(_context_files(self.context)):
            digest.update(str(path.relative_to(self.context)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


def _context_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        # .host/ holds what host_builds derives from the context's own files: not a source.
        relative = path.relative_to(root).parts
        if path.is_file() and "__pycache__" not in relative and host_builds.HOST_DIR not in relative \
                and path.suffix != ".pyc":
            yield path


LAB_IMAGES = (
    ImageSpec(settings.SERVER_IMAGE, settings.IMAGE_SOURCES / "server"),
    ImageSpec(settings.CLIENTS_IMAGE, settings.IMAGE_SOURCES / "clients"),
    ImageSpec(settings.PROBE_IMAGE, settings.REPO_ROOT / "lab" / "probe_agent"),
)


# Real servers to judge the bundled one against (docs/board.md), each in lab/images/<name>/ and tagged
# epoll-lab/<name>:<LAB_IMAGE_TAG>; built on request (`python -m lab images --extra nginx`, `--board`).
BOARD_SERVERS = ("nginx", "httpd", "lighttpd", "node", "gohttp", "uvicorn", "gunicorn", "aiohttp", "tornado",
                 "seed-lt", "seed-et")
EXTRA_IMAGES = {
    name: ImageSpec(settings.extra_image(name), settings.REPO_ROOT / "lab" / "images" / name)
    for name in BOARD_SERVERS
}


def ensure_images(log: Log, *, offline: bool | None = None, extra: tuple[str, ...] = (),
                  also: tuple[str, ...] = ()) -> None:
    """Make every image the lab runs present and current on this process's engine; build only what changed.

    With several engines (LAB_DOCKER_HOSTS) the first one builds, and any other one loads the images
    from it (`docker save | docker load`: no registry needed). `also`: more tags to carry over, such
    as a third-party target image that only the first engine has.
    """
    unknown = [name for name in extra if name not in EXTRA_IMAGES]
    if unknown:
        raise LabError(f"no extra image {unknown[0]!r}; known: {', '.join(EXTRA_IMAGES)}")
    primary, here = engine.configured_hosts()[0], engine.current()
    if here == primary:
        _build_here(log, offline=offline, extra=extra)
        return
    with engine.using(primary):
        _build_here(log, offline=offline, extra=extra)
    tags = (settings.toxiproxy_image(), *(spec.tag for spec in LAB_IMAGES),
            *(EXTRA_IMAGES[name].tag for name in extra), *also)
    copy_images(primary, here, tags, log)


def copy_images(source: str, destination: str, tags: tuple[str, ...], log: Log) -> None:
    """Load into `destination` each tag whose image differs from `source`'s, in one save | load."""
    with engine.using(source):
        wanted = {tag: engine.image_id(tag) for tag in tags}
    with engine.using(destination):
        stale = [tag for tag, image in wanted.items() if image is not None and engine.image_id(tag) != image]
    if not stale:
        return
    log(f"copying {', '.join(stale)} from engine {engine.describe(source)} to {engine.describe(destination)}")
    docker_cli = engine.require_docker_cli()
    with tempfile.TemporaryFile() as save_errors:
        # Each CLI gets its engine in its environment: this process's DOCKER_HOST is the destination's.
        save = subprocess.Popen([docker_cli, "save", *stale], stdout=subprocess.PIPE, stderr=save_errors,
                                env=engine.cli_env(source))
        try:
            assert save.stdout is not None
            load = subprocess.run([docker_cli, "load", "-q"], stdin=save.stdout, capture_output=True,
                                  timeout=COPY_TIMEOUT_S, check=False, env=engine.cli_env(destination))
            save.stdout.close()
            save.wait(timeout=COPY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise LabError(f"copying images to engine {engine.describe(destination)} took over "
                           f"{COPY_TIMEOUT_S} s") from None
        finally:
            if save.poll() is None:
                save.kill()
                save.wait(timeout=COPY_TIMEOUT_S)
        save_errors.seek(0)
        save_detail = save_errors.read().decode(errors="replace").strip().splitlines()[-1:]
    if save.returncode != 0:
        raise LabError(f"copying images from engine {engine.describe(source)} failed: `docker save`: "
                       f"{save_detail[0] if save_detail else f'exit {save.returncode}'}")
    if load.returncode != 0:
        detail = load.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {load.returncode}"]
        raise LabError(f"copying images to engine {engine.describe(destination)} failed: `docker load`: "
                       f"{detail[0]}")


def _build_here(log: Log, *, offline: bool | None, extra: tuple[str, ...]) -> None:
    base = ensure_base_image(log, offline=offline)
    ensure_toxiproxy_image(base, log, offline=offline)
    for spec in (*LAB_IMAGES, *(EXTRA_IMAGES[name] for name in extra)):
        build_if_stale(spec, base, log)


def build_if_stale(spec: ImageSpec, base: str, log: Log) -> None:
    source = spec.source_hash(base)
    if engine.image_labels(spec.tag).get(SOURCE_LABEL) == source:
        return
    # Several workers (xdist, the scheduler's) may find one image stale at once: one builds, the others wait
    # for it and then find it fresh. Host builds write into the context, so two at once break each other.
    with _build_lock(spec.tag):
        if engine.image_labels(spec.tag).get(SOURCE_LABEL) == source:
            return
        _build(spec, base, source, log)


@contextlib.contextmanager
def _build_lock(tag: str) -> Iterator[None]:
    settings.STATE_DIR.mkdir(parents=True, exist_ok=True)
    name = "build-" + "".join(c if c.isalnum() else "_" for c in tag) + ".lock"
    with (settings.STATE_DIR / name).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, however the build ends
        yield


def _build(spec: ImageSpec, base: str, source: str, log: Log) -> None:
    host_builds.prepare(spec.context, log)
    log(f"building {spec.tag} from {spec.context.relative_to(settings.REPO_ROOT)}/ (base {base})")
    engine.run_docker(
        ["build", "-q", "--build-arg", f"BASE_IMAGE={base}", "--label", f"{SOURCE_LABEL}={source}",
         "--label", f"{settings.LABEL_LAB}=true", "-t", spec.tag, str(spec.context)],
        timeout=BUILD_TIMEOUT_S, what=f"building {spec.tag}",
    )


def ensure_base_image(log: Log, *, offline: bool | None) -> str:
    chosen = settings.base_image()
    if chosen != settings.PUBLIC_BASE_IMAGE or engine.image_exists(chosen):
        if not engine.image_exists(chosen) and chosen == settings.OFFLINE_BASE_IMAGE:
            build_offline_base(log)
        return chosen
    if offline is not True and try_pull(chosen, log):
        return chosen
    if not engine.image_exists(settings.OFFLINE_BASE_IMAGE):
        build_offline_base(log)
    record_override("LAB_BASE_IMAGE", settings.OFFLINE_BASE_IMAGE)
    return settings.OFFLINE_BASE_IMAGE


def ensure_toxiproxy_image(base: str, log: Log, *, offline: bool | None) -> str:
    chosen = settings.toxiproxy_image()
    if engine.image_exists(chosen):
        return chosen
    if chosen == settings.PUBLIC_TOXIPROXY_IMAGE and offline is not True and try_pull(chosen, log):
        return chosen
    if not engine.image_exists(settings.OFFLINE_TOXIPROXY_IMAGE):
        build_offline_toxiproxy(base, log)
    record_override("LAB_TOXIPROXY_IMAGE", settings.OFFLINE_TOXIPROXY_IMAGE)
    return settings.OFFLINE_TOXIPROXY_IMAGE


def try_pull(tag: str, log: Log) -> bool:
    log(f"pulling {tag}")
    try:
        engine.run_docker(["pull", "-q", tag], timeout=PULL_TIMEOUT_S, what=f"pulling {tag}")
    except LabError as error:
        log(f"cannot pull {tag} ({error}); building an offline stand-in")
        return False
    return True


def record_override(key: str, value: str) -> None:
    settings.STATE_DIR.mkdir(exist_ok=True)
    path = settings.IMAGE_OVERRIDES_FILE
    lines = [line for line in (path.read_text().splitlines() if path.exists() else [])
             if not line.startswith(f"{key}=")]
    path.write_text("\n".join([*lines, f"{key}={value}"]) + "\n")


def _require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, capture_output=True,
                       timeout=600)
        path = shutil.which(name)
    if not path:
        raise LabError(f"no registry reachable and no `{name}` to build an offline image: install {package}")
    return path


def build_offline_base(log: Log) -> None:
    """Debian bookworm minbase from Debian's mirror, imported as a Docker image."""
    debootstrap = _require_tool("debootstrap", "debootstrap")
    if os.geteuid() != 0:
        raise LabError("building the offline base image needs root (debootstrap): run `sudo make prepare`")
    log(f"building the offline base image {settings.OFFLINE_BASE_IMAGE} with debootstrap (about 35 s)")
    settings.STATE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.STATE_DIR, prefix="rootfs-") as rootfs:
        done = subprocess.run([debootstrap, "--variant=minbase", "bookworm", rootfs], capture_output=True,
                              timeout=900, check=False)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
            raise LabError(f"debootstrap failed: {tail[0]}")
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, timeout=600, check=True)
        engine.run_docker(["import", "-", settings.OFFLINE_BASE_IMAGE], input_bytes=tar.stdout, timeout=600,
                          what="importing the offline base image")


def build_offline_toxiproxy(base: str, log: Log) -> None:
    """The same Toxiproxy release, built from its Go module (the Go module proxy is reachable)."""
    go = _require_tool("go", "golang-go")
    version = settings.TOXIPROXY_VERSION
    log(f"building {settings.OFFLINE_TOXIPROXY_IMAGE} from the Go module {TOXIPROXY_MODULE}@v{version}")
    settings.STATE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.STATE_DIR, prefix="toxiproxy-") as context:
        env = {**os.environ, "GOBIN": context, "CGO_ENABLED": "0"}
        ldflags = f"-X {TOXIPROXY_MODULE}.Version={version}"
        for command, binary in (("server", "toxiproxy"), ("cli", "toxiproxy-cli")):
            done = subprocess.run([go, "install", "-ldflags", ldflags, f"{TOXIPROXY_MODULE}/cmd/{command}@v{version}"],
                                  env=env, capture_output=True, timeout=900, check=False)
            if done.returncode != 0:
                tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
                raise LabError(f"go install of toxiproxy {command} failed: {tail[0]}")
            Path(context, command).rename(Path(context, binary))
        shutil.copy(settings.REPO_ROOT / "lab" / "images" / "toxiproxy" / "Dockerfile", context)
        engine.run_docker(["build", "-q", "--build-arg", f"BASE_IMAGE={base}", "--label",
                           f"{settings.LABEL_LAB}=true", "-t", settings.OFFLINE_TOXIPROXY_IMAGE, context],
                          timeout=BUILD_TIMEOUT_S, what="building the offline toxiproxy image")
