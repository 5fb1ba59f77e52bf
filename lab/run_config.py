"""One run's settings, built once at an edge (the CLI, the pytest plugin) and passed down.

The LAB_* variables come from the mapping an edge hands in (the process environment, at the CLI or the pytest
plugin), so nothing below the edges looks at the environment: a worker process gets its parent's `RunConfig`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lab.settings import WORK_ROOT, LabConfig

DEFAULT_REPORTS = WORK_ROOT / "reports"
ARG_FIELDS = ("seed", "profile", "target_image", "target_port", "trigger", "bug", "capture")  # as the CLI names them
SEED_BYTES = 3  # a fresh seed per run: short enough to type in `lab run --seed`


def fresh_seed() -> int:
    """A new seed for a run that names none; printed in every failure, so the run can be replayed."""
    return int.from_bytes(os.urandom(SEED_BYTES), "big")


@dataclass(frozen=True)
class RunConfig:
    """What one run of the lab is: the target, the seed, where results go, which engines it may use."""

    seed: int
    profile: str | None = None  # a profile's name (board/profiles/) or .toml path
    target_image: str | None = None  # an image without a profile (None: the bundled server, or the profile's)
    target_port: int | None = None
    trigger: str | None = None  # the bundled server's epoll mode (None: the lab's default)
    bug: str | None = None  # a bug-zoo variant of the bundled server
    capture: bool = False  # a packet capture and a syscall trace of every case
    reports_dir: Path = DEFAULT_REPORTS
    docker_hosts: str = ""  # the engines labs spread over (LAB_DOCKER_HOSTS; "": the environment's own)
    run_id: str = ""  # names this run's labs (LAB_RUN_ID; "": a fresh token per lab)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **given: object) -> RunConfig:
        """`given` (command-line arguments or pytest options; None means not given) over the environment's
        LAB_* variables over the defaults. A profile names its own image: then LAB_TARGET_IMAGE/PORT are
        ignored (an image given explicitly still conflicts with it, as lab.chaos.run.targets says)."""
        profile = _given(given, "profile") or env.get("LAB_PROFILE") or None
        from_env: dict[str, object] = {
            "seed": int(env["LAB_SEED"]) if env.get("LAB_SEED") else None,
            "profile": profile,
            "target_image": None if profile else env.get("LAB_TARGET_IMAGE") or None,
            "target_port": None if profile or not env.get("LAB_TARGET_PORT") else int(env["LAB_TARGET_PORT"]),
            "trigger": env.get("LAB_TRIGGER") or None,
            "bug": env.get("LAB_BUG") or None,
            "capture": env.get("LAB_CAPTURE") == "1",
            "reports_dir": Path(env["LAB_REPORTS_DIR"]) if env.get("LAB_REPORTS_DIR") else None,
            "docker_hosts": env.get("LAB_DOCKER_HOSTS", ""),
            "run_id": env.get("LAB_RUN_ID", ""),
        }
        fields = {key: _given(given, key) if _given(given, key) is not None else value
                  for key, value in from_env.items()}
        fields["capture"] = bool(_given(given, "capture") or from_env["capture"])
        if fields["seed"] is None:
            fields["seed"] = fresh_seed()
        if fields["reports_dir"] is None:
            fields["reports_dir"] = DEFAULT_REPORTS
        unknown = set(given) - set(from_env)
        if unknown:
            raise TypeError(f"RunConfig has no {', '.join(sorted(unknown))}")
        return cls(**fields)  # type: ignore[arg-type]

    @classmethod
    def from_args(cls, args: object, env: Mapping[str, str], **given: object) -> RunConfig:
        """From a command's arguments (those it has of ARG_FIELDS) over the environment: the CLI's edge."""
        return cls.from_env(env, **{key: getattr(args, key, None) for key in ARG_FIELDS} | given)

    def with_reports(self, directory: Path) -> RunConfig:
        return replace(self, reports_dir=directory)

    def lab_config(self, target: Mapping[str, object] | None = None, **fields: object) -> LabConfig:
        """The lab this run brings up: its target (a profile's `target` fields win), then `fields`."""
        settings: dict[str, object] = {"target_image": self.target_image, "target_port": self.target_port,
                                       "trigger": self.trigger, "bug": self.bug}
        settings.update(target or {})
        settings.update(fields)
        return LabConfig(**{key: value for key, value in settings.items() if value is not None})  # type: ignore[arg-type]


def _given(given: Mapping[str, object], key: str) -> object:
    value = given.get(key)
    return None if value is False or value == "" else value
