"""One lab per process (per xdist worker), switched between target variants as cases need them."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lab.chaos.model.history import CaseHistory
from lab.chaos.model.scenario import Scenario
from lab.chaos.run import targets
from lab.chaos.run.preflight import fetch_references, http_fetch, needs_preflight
from lab.chaos.run.runner import CaseRunner
from lab.instance import Lab
from lab.profiles import Profile
from lab.run_config import DEFAULT_REPORTS
from lab.settings import LabConfig


@dataclass(frozen=True)
class Variant:
    """How the target runs for a case: the bundled server's trigger and bug, or any image."""

    trigger: str | None = None  # None for a third-party target
    bug: str | None = None

    @property
    def label(self) -> str:
        return "-".join(part for part in (self.trigger or "any", self.bug) if part)


def repro_command(base: LabConfig, variant: Variant, scenario: Scenario, seed: int,
                  profile: Profile | None = None) -> str:
    words = ["python", "-m", "lab", "run", scenario.id, "--seed", str(seed)]
    if profile is not None and profile.source.suffix == ".toml":
        words += ["--profile", targets.reference(profile)]
    elif not base.bundled_target:
        words += ["--target-image", str(base.target_image), "--target-port", str(base.target_port)]
    if variant.trigger and (profile is None or profile.trigger is None):
        words += ["--trigger", variant.trigger]
    if variant.bug:
        words += ["--bug", variant.bug]
    return shlex.join(words)


class LabSession:
    """Brings its lab up on first use and down in `close()`; reconfigures only when the variant changes."""

    def __init__(self, base: LabConfig, *, log: Callable[[str], None], record_dir: str | None = None,
                 capture: bool = False, capture_failures_only: bool = False, profile: Profile | None = None,
                 reports_dir: Path = DEFAULT_REPORTS) -> None:
        self.base = base
        self.reports_dir = reports_dir  # the run's results folder: captures go beside its timelines
        self.profile = profile  # the target's profile: cases arrive adapted to it (lab.chaos.model.adapt)
        self.capture = capture  # record a packet capture and a syscall trace of each case
        self.capture_failures_only = capture_failures_only  # collect it only when the case is not a pass
        self._log = log
        self._record_dir = record_dir  # in the clients container: keep each client's operation history
        self.lab: Lab | None = None
        self._fresh_target = False  # the target was (re)created since the last case
        self._referenced: Profile | None = None  # the profile with its preflight's references

    def config_for(self, scenario: Scenario, variant: Variant) -> LabConfig:
        config = replace(self.base, trigger=variant.trigger or self.base.trigger, bug=variant.bug,
                         target_nofile=scenario.target_nofile or self.base.target_nofile,
                         target_backlog=scenario.target_backlog or self.base.target_backlog)
        if not self.base.bundled_target:  # the deadlines are the bundled server's flags: another server's own
            return config  # apply (its profile), and recreating its container for them costs ~2 s twice a case
        return replace(config,
                       target_idle_timeout_s=scenario.target_idle_timeout_s or self.base.target_idle_timeout_s,
                       target_header_timeout_s=(scenario.target_header_timeout_s
                                                or self.base.target_header_timeout_s))

    def referenced(self, profile: Profile) -> Profile:
        """`profile` with its large resources' references: the preflight, once per session, from its target."""
        if not needs_preflight(profile):
            return profile
        if self._referenced is None:
            lab = self._up(self.base)
            self._referenced = fetch_references(profile, http_fetch(lab.endpoints().direct_url))
        return self._referenced

    def _up(self, config: LabConfig) -> Lab:
        if self.lab is None:
            self.lab = Lab(config, log=self._log)
            self.lab.up()
            self._fresh_target = True
        return self.lab

    def run(self, scenario: Scenario, variant: Variant, seed: int, *, fresh: bool = False) -> CaseHistory:
        config = self.config_for(scenario, variant)
        bringing_up = time.monotonic()
        if self.lab is None:
            self.lab = self._up(config)
        elif self.lab.config != config:
            self.lab.reconfigure(config)
            self._fresh_target = True
        runner = CaseRunner(self.lab, repro=lambda s, n: repro_command(self.base, variant, s, n, self.profile),
                            record_dir=self._record_dir, log=self._log,
                            capture_dir=(capture_folder(self.reports_dir, scenario, variant)
                                         if self.capture else None),
                            capture_failures_only=self.capture_failures_only)
        lab_s = time.monotonic() - bringing_up
        history = runner.run(scenario, seed, fresh=fresh and not self._fresh_target)
        history.phases["lab"] = lab_s  # bringing the lab up, or reconfiguring it for this variant
        self._fresh_target = False
        return history

    def close(self) -> None:
        if self.lab is not None:
            self.lab.down()
            self.lab = None


def capture_folder(reports_dir: Path, scenario: Scenario, variant: Variant) -> Path:
    """Where `--capture` puts a case's capture and trace: beside its timeline in the run's report folder."""
    return reports_dir / "captures" / f"{scenario.id}--{variant.label}"
