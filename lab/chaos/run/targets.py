"""Which target a run judges: a profile by name or path, an image alone, or the bundled server by default."""

from __future__ import annotations

from pathlib import Path

from lab import images, settings
from lab.compose import echo
from lab.errors import LabError
from lab.images import ImageSpec
from lab.profiles import PROFILES_DIR, Profile, find_profile, parse_profile

DEFAULT_PORT = 8080  # a target image's port when none is given (lab.settings.LabConfig's default)
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

    `profile` names one; else an image other than the bundled server's makes the ad-hoc profile.
    (lab.run_config.RunConfig carries the three, from the command line or the environment.)
    """
    if profile:
        if target_image:
            raise LabError("give a profile or --target-image, not both (the profile names its image)")
        return find_profile(profile)
    if not target_image or target_image == settings.SERVER_IMAGE:
        return None
    return adhoc_profile(target_image, target_port or DEFAULT_PORT)


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

