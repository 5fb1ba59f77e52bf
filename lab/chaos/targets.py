"""Which target a run judges: a profile by name or path, an image alone, or the bundled server by default."""

from __future__ import annotations

import os
from pathlib import Path

from lab import images, settings
from lab.compose import echo
from lab.errors import LabError
from lab.images import ImageSpec
from lab.profiles import PROFILES_DIR, Profile, find_profile, parse_profile

ADHOC_MISSING = "the target was given as an image only (--target-image): a profile (board/profiles/) declares it"


def adhoc_profile(image: str, port: int) -> Profile:
    """`--target-image/--target-port` alone: GET / judged by its status only, no other route, no deadline."""
    data: dict[str, object] = {
        "language": "unknown", "software": image,
        "target": {"image": image, "port": port, "stop_signal": "SIGTERM"},
        "deadlines": {},
        "routes": {"small": {"path": "/"}, "missing": {"large": ADHOC_MISSING, "echo": ADHOC_MISSING}},
    }
    return parse_profile(data, name=image.rsplit("/", 1)[-1].replace(":", "-"), source=Path("<--target-image>"))


def active_profile(profile: str | None = None, target_image: str | None = None,
                   target_port: int | None = None) -> Profile | None:
    """The profile a run adapts its cases to (None: the bundled server, cases as they are).

    `profile` (or LAB_PROFILE) names one; else an image other than the bundled server's
    (or LAB_TARGET_IMAGE) makes the ad-hoc profile.
    """
    profile = profile or os.environ.get("LAB_PROFILE") or None
    if profile is not None:
        if target_image:
            raise LabError("give a profile or --target-image, not both (the profile names its image)")
        return find_profile(profile)
    image = target_image or os.environ.get("LAB_TARGET_IMAGE") or None
    if image is None or image == settings.SERVER_IMAGE:
        return None
    port = target_port or int(os.environ.get("LAB_TARGET_PORT") or 8080)
    return adhoc_profile(image, port)


def profile_env(profile: Profile) -> dict[str, str]:
    """The LAB_* variables that make a lab (and every xdist worker's) run the profile's target."""
    env = {"LAB_TARGET_PORT": str(profile.port)}
    if profile.trigger is None:
        env["LAB_TARGET_IMAGE"] = profile.image
    else:
        env |= {"LAB_TARGET_IMAGE": settings.SERVER_IMAGE, "LAB_TRIGGER": profile.trigger}
    return env


def config_overrides(profile: Profile) -> dict[str, object]:
    """LabConfig fields for the profile's target."""
    if profile.trigger is not None:
        return {"target_image": None, "target_port": profile.port, "trigger": profile.trigger}
    return {"target_image": profile.image, "target_port": profile.port}


def build_image(profile: Profile) -> None:
    """Build the profile's image from its build context when stale (the bundled server is the lab's own)."""
    if profile.build is None or profile.trigger is not None:
        return
    base = images.ensure_base_image(echo, offline=None)
    images.build_if_stale(ImageSpec(profile.image, settings.REPO_ROOT / profile.build), base, echo)


def reference(profile: Profile) -> str:
    """How a command line names the profile: its name when shipped in board/profiles/, else its path."""
    if profile.source.parent.resolve() == PROFILES_DIR.resolve():
        return profile.name
    return str(profile.source)

