"""Host builds (lab/host_builds.py): pinned wheels only, what lands in .host/ never changes a source hash, and an
image stale for several workers at once is built once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lab import engine, host_builds, images, settings
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


def test_an_image_two_workers_find_stale_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist workers open their labs at once: the second waits for the first's build and finds the image fresh
    (two host builds at once wrote into one .host/ and broke each other)."""
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "Dockerfile").write_text("FROM scratch\n")
    spec = images.ImageSpec("epoll-lab/unseen:test", tmp_path / "context")
    monkeypatch.setattr(settings, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(settings, "REPO_ROOT", tmp_path)
    labels: dict[str, str] = {}
    looked: list[str] = []  # who asked for the image's labels
    changed = threading.Condition()
    builds: list[str] = []

    def image_labels(tag: str) -> dict[str, str]:
        with changed:
            looked.append(threading.current_thread().name)
            changed.notify_all()
            return dict(labels)

    def run_docker(args: list[str], **_: object) -> None:
        me = threading.current_thread().name
        builds.append(me)
        with changed:  # the build ends only once the other worker has found the image stale
            assert changed.wait_for(lambda: any(name != me for name in looked), timeout=10)
        labels[images.SOURCE_LABEL] = spec.source_hash("base")

    monkeypatch.setattr(engine, "image_labels", image_labels)
    monkeypatch.setattr(engine, "run_docker", run_docker)
    monkeypatch.setattr(host_builds, "prepare", lambda context, log: None)
    workers = [threading.Thread(target=images.build_if_stale, args=(spec, "base", lambda _: None), name=f"gw{n}")
               for n in range(2)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(worker.is_alive() for worker in workers)
    assert len(builds) == 1, builds
