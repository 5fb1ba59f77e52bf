"""Where things are, what they are called, and how one lab differs from another."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The lab's own files (docker-compose.yml, board/profiles/, the image sources): the checkout, or, installed, the
# epoll_lab package, whose tree mirrors the checkout's (build_backend/epoll_lab_build.py builds it).
REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALLED = __name__.startswith("epoll_lab.")
# Installed, the server/ and clients/ beside lab/ import each other as epoll_lab.*; their images build from
# the untouched copies, where `python -m server` and `python -m clients` run as they do from the checkout.
IMAGE_SOURCES = REPO_ROOT / "image-sources" if INSTALLED else REPO_ROOT
# What the lab writes (.lab/, reports/): the checkout, or, installed, the folder the command runs in.
WORK_ROOT = Path.cwd() if INSTALLED else REPO_ROOT
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
STATE_DIR = WORK_ROOT / ".lab"
# Written by the offline preparation: which local images stand in for public ones.
IMAGE_OVERRIDES_FILE = STATE_DIR / "images.env"

LABEL_LAB = "io.epoll-lab.lab"
LABEL_PROJECT = "io.epoll-lab.project"
LABEL_RUN = "io.epoll-lab.run"

DEFAULT_PROJECT = "epoll-lab"
TARGET_SERVICE = "target"
NETNS_SERVICE = "netns"  # holds the target's network namespace and publishes its port
PROXY_NAME = "target"
PROXY_LISTEN_PORT = 18080
TOXIPROXY_API_PORT = 8474

TOXIPROXY_VERSION = "2.12.0"
PUBLIC_BASE_IMAGE = "debian:bookworm-slim"
PUBLIC_TOXIPROXY_IMAGE = f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}"
OFFLINE_BASE_IMAGE = "epoll-lab/base:bookworm"
OFFLINE_TOXIPROXY_IMAGE = f"epoll-lab/toxiproxy:{TOXIPROXY_VERSION}"
# LAB_IMAGE_TAG keeps two checkouts of the lab (a branch beside main) from rebuilding each other's images.
IMAGE_TAG = os.environ.get("LAB_IMAGE_TAG") or "dev"
SERVER_IMAGE = f"epoll-lab/server:{IMAGE_TAG}"
CLIENTS_IMAGE = f"epoll-lab/clients:{IMAGE_TAG}"
PROBE_IMAGE = f"epoll-lab/probe:{IMAGE_TAG}"
NGINX_IMAGE = f"epoll-lab/nginx:{IMAGE_TAG}"


def extra_image(name: str) -> str:
    """The tag of a board server built from lab/images/<name>/ (docs/board.md)."""
    return f"epoll-lab/{name}:{IMAGE_TAG}"


TRIGGERS = ("level", "edge")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def image_overrides() -> dict[str, str]:
    """LAB_* image settings: the environment wins over the offline preparation's file."""
    values: dict[str, str] = {}
    if IMAGE_OVERRIDES_FILE.exists():
        for line in IMAGE_OVERRIDES_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().startswith("LAB_"):
                values[key.strip()] = value.strip()
    for key in ("LAB_BASE_IMAGE", "LAB_TOXIPROXY_IMAGE"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    return values


def base_image() -> str:
    return image_overrides().get("LAB_BASE_IMAGE", PUBLIC_BASE_IMAGE)


def toxiproxy_image() -> str:
    return image_overrides().get("LAB_TOXIPROXY_IMAGE", PUBLIC_TOXIPROXY_IMAGE)


def validate_project(name: str) -> str:
    if not _PROJECT_NAME.match(name):
        raise ValueError(f"bad project name {name!r}: use lowercase letters, digits, '-' and '_'")
    return name


def unique_project(prefix: str = "epl", run_id: str = "", worker: str | None = None) -> str:
    """A project name unique per run (`run_id`, else a fresh token) and per worker (pytest-xdist's, or the
    scheduler's gwN)."""
    run = run_id or secrets.token_hex(3)
    worker = worker or os.environ.get("PYTEST_XDIST_WORKER", "main")
    return validate_project(f"{prefix}-{run}-{worker}".lower())


# Deadlines the lab configures on every target (docs/architecture.md); a case may give the bundled server longer
# header and idle ones (LabConfig below).
HEADER_TIMEOUT_S = 2.0
IDLE_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LabConfig:
    """Everything that makes one lab differ from another; the rest is docker-compose.yml."""

    project: str = DEFAULT_PROJECT
    target_image: str | None = None  # None: the bundled epoll server
    target_port: int = 8080
    trigger: str = "level"
    bug: str | None = None
    target_nofile: int = 8192
    target_idle_timeout_s: float = IDLE_TIMEOUT_S  # the bundled server's idle keep-alive deadline
    target_header_timeout_s: float = HEADER_TIMEOUT_S  # the bundled server's deadline for a request's head
    target_backlog: int = 4096  # the target's net.core.somaxconn, and the bundled server's listen backlog
    run_id: str = "manual"
    host_ports: dict[str, int] = field(default_factory=dict)  # fixed published ports, else random
    docker_host: str = ""  # the engine the lab runs on ("": the environment's own); a lab never spans two

    @property
    def bundled_target(self) -> bool:
        return self.target_image in (None, SERVER_IMAGE)

    @property
    def foreign_images(self) -> tuple[str, ...]:
        """The target's image when it is not the lab's own: carried to other engines beside the lab's images."""
        return () if self.bundled_target else (str(self.target_image),)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> LabConfig:
        """Defaults from LAB_TARGET_IMAGE, LAB_TARGET_PORT, LAB_TRIGGER, LAB_BUG in `env`, the environment an
        edge (the CLI, a test's fixture) hands in."""
        settings: dict[str, object] = {}
        if env.get("LAB_TARGET_IMAGE"):
            settings["target_image"] = env["LAB_TARGET_IMAGE"]
        if env.get("LAB_TARGET_PORT"):
            settings["target_port"] = int(env["LAB_TARGET_PORT"])
        if env.get("LAB_TRIGGER"):
            settings["trigger"] = env["LAB_TRIGGER"]
        if env.get("LAB_BUG"):
            settings["bug"] = env["LAB_BUG"]
        settings.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**settings)  # type: ignore[arg-type]

    def compose_env(self) -> dict[str, str]:
        """The variables docker-compose.yml reads."""
        env = {
            "LAB_PROJECT": self.project,
            "LAB_RUN_ID": self.run_id,
            "LAB_TARGET_IMAGE": self.target_image or SERVER_IMAGE,
            "LAB_TARGET_PORT": str(self.target_port),
            "LAB_TRIGGER": self.trigger,
            "LAB_BUG": self.bug or "",
            "LAB_TARGET_NOFILE": str(self.target_nofile),
            "LAB_TARGET_IDLE_TIMEOUT": f"{self.target_idle_timeout_s:g}",
            "LAB_TARGET_HEADER_TIMEOUT": f"{self.target_header_timeout_s:g}",
            "LAB_TARGET_BACKLOG": str(self.target_backlog),
            "LAB_TOXIPROXY_IMAGE": toxiproxy_image(),
            "LAB_PROBE_IMAGE": PROBE_IMAGE,
            "LAB_CLIENTS_IMAGE": CLIENTS_IMAGE,
        }
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        names = {"direct": "LAB_DIRECT_HOST_PORT", "proxied": "LAB_PROXIED_HOST_PORT",
                 "toxiproxy": "LAB_TOXIPROXY_HOST_PORT"}
        for key, port in self.host_ports.items():
            env[names[key]] = str(port)
        return env
