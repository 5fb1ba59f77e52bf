"""Which target a run judges (lab/chaos/run/targets.py), and the repro command that names it."""

from __future__ import annotations

import pytest

from lab import settings
from lab.chaos.model import catalog
from lab.chaos.model.adapt import Skip, adapt
from lab.chaos.model.scenario import Scenario
from lab.chaos.run import targets
from lab.chaos.run.session import Variant, repro_command
from lab.errors import LabError
from lab.profiles import find_profile
from lab.run_config import RunConfig


@pytest.fixture(autouse=True)
def no_target_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("LAB_PROFILE", "LAB_TARGET_IMAGE", "LAB_TARGET_PORT", "LAB_TRIGGER"):
        monkeypatch.delenv(key, raising=False)


def test_without_a_profile_or_an_image_the_bundled_server_runs_the_cases_unchanged() -> None:
    assert targets.active_profile() is None
    assert targets.active_profile(target_image=settings.SERVER_IMAGE) is None


def test_an_image_alone_is_a_profile_with_get_slash_by_its_status() -> None:
    run = RunConfig.from_env({"LAB_TARGET_IMAGE": "my/server:1", "LAB_TARGET_PORT": "8000"})
    profile = targets.active_profile(run.profile, run.target_image, run.target_port)
    assert profile is not None
    assert (profile.image, profile.port, profile.routes.small.path, profile.routes.small.body) == (
        "my/server:1", 8000, "/", None)
    assert isinstance(adapt(catalog.get("connect_storm"), profile), Scenario)
    skipped = adapt(catalog.get("post_body"), profile)
    assert isinstance(skipped, Skip) and "--target-image" in skipped.reason


def test_a_profile_by_name_or_environment_and_never_beside_an_image() -> None:
    assert targets.active_profile("nginx") == find_profile("nginx")
    run = RunConfig.from_env({"LAB_PROFILE": "uvicorn", "LAB_TARGET_IMAGE": "ignored/beside:1"})
    assert targets.active_profile(run.profile, run.target_image, run.target_port) == find_profile("uvicorn")
    with pytest.raises(LabError, match="not both"):
        targets.active_profile("nginx", target_image="my/server:1")
    given = RunConfig.from_env({"LAB_PROFILE": "uvicorn"}, target_image="my/server:1")  # an image given still is
    with pytest.raises(LabError, match="not both"):
        targets.active_profile(given.profile, given.target_image, given.target_port)


def test_the_config_of_a_profile() -> None:
    level = find_profile("server-edge")
    assert targets.config_overrides(level) == {"target_image": None, "target_port": 8080, "trigger": "edge"}


def test_the_repro_command_names_the_profile() -> None:
    base = settings.LabConfig(target_image=find_profile("nginx").image)
    command = repro_command(base, Variant(), catalog.get("garbage"), 7, find_profile("nginx"))
    assert command == "python -m lab run garbage --seed 7 --profile nginx"
    bundled = repro_command(settings.LabConfig(), Variant("edge"), catalog.get("garbage"), 7,
                            find_profile("server-edge"))
    assert bundled == "python -m lab run garbage --seed 7 --profile server-edge"
    assert repro_command(settings.LabConfig(), Variant("level"), catalog.get("garbage"), 7) == \
        "python -m lab run garbage --seed 7 --trigger level"
