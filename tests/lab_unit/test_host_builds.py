"""Host builds (lab/host_builds.py): pinned wheels only, and what lands in .host/ never changes a source hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import host_builds, images
from lab.errors import LabError


def test_wheel_pins_are_name_equals_version_with_comments_dropped(tmp_path: Path) -> None:
    (tmp_path / "wheels.txt").write_text("# a comment\nuvicorn==0.55.0  # the server\n\nh11==0.16.0\n")
    assert host_builds.wheel_pins(tmp_path) == ["uvicorn==0.55.0", "h11==0.16.0"]


@pytest.mark.parametrize("line", ["uvicorn", "uvicorn>=0.30", "==1.0", "uvicorn=="])
def test_an_unpinned_wheel_is_refused_with_its_line(tmp_path: Path, line: str) -> None:
    (tmp_path / "wheels.txt").write_text(f"h11==0.16.0\n{line}\n")
    with pytest.raises(LabError, match=r"wheels\.txt:2: pin every wheel as name==version"):
        host_builds.wheel_pins(tmp_path)


def test_every_shipped_wheels_file_is_fully_pinned() -> None:
    for spec in images.EXTRA_IMAGES.values():
        if (spec.context / "wheels.txt").exists():
            assert host_builds.wheel_pins(spec.context), spec.context


def test_host_artifacts_do_not_change_the_source_hash(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = images.ImageSpec("example:1", tmp_path)
    before = spec.source_hash("base")
    (tmp_path / ".host").mkdir()
    (tmp_path / ".host" / "server").write_bytes(b"\x7fELF")
    assert spec.source_hash("base") == before
    (tmp_path / "main.go").write_text("package main\n")
    assert spec.source_hash("base") != before
