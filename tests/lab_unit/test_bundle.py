"""Repro bundles: written from a case's files, read back and printed; anything else is a one-line error."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from lab.chaos.views.bundle import describe, read_manifest, write_bundle
from lab.errors import LabError

MANIFEST = {"case": "connect_and_close", "seed": 7, "variant": "level-no_eof_check", "target": "bundled server",
            "verdicts": [{"check": "close_wait", "ok": False, "message": "20 sockets in CLOSE_WAIT",
                          "applicable": True},
                         {"check": "slow_canary", "ok": True, "message": "no canary", "applicable": False}],
            "commands": ["python -m lab run connect_and_close --seed 7 --bug no_eof_check --capture"],
            "images": {"target": "epoll-lab/server:dev sha256:abc"}, "evidence": "packets 140"}


def test_a_bundle_holds_the_manifest_and_every_file_and_prints_again(tmp_path: Path) -> None:
    (tmp_path / "timeline.json").write_text("{}")
    capture = tmp_path / "capture"
    capture.mkdir()
    (capture / "packets.txt").write_text("1.0 eth0 In IP a.1 > b.8080: Flags [F.]\n")
    path = write_bundle(tmp_path / "out" / "repro.tar.gz", MANIFEST,
                        {"timeline.json": tmp_path / "timeline.json", "capture": capture,
                         "timeline.png": tmp_path / "missing.png"})
    manifest = read_manifest(path)
    assert manifest["files"] == ["capture/packets.txt", "timeline.json"]  # a missing file is left out
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["capture", "capture/packets.txt", "manifest.json", "timeline.json"]
    text = describe(manifest)
    assert "case connect_and_close (seed 7, variant level-no_eof_check) on bundled server" in text
    assert "  FAIL close_wait        20 sockets in CLOSE_WAIT" in text
    assert "  n/a  slow_canary       no canary" in text
    assert "  python -m lab run connect_and_close --seed 7 --bug no_eof_check --capture" in text
    assert "  target     epoll-lab/server:dev sha256:abc" in text and "capture: packets 140" in text


def _tar_with(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / f"{name}-{len(data)}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_what_is_not_a_bundle_is_said_in_one_line(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    cases = [
        (tmp_path / "nothing.tar.gz", "no such file"),
        (text_file, "is not a repro bundle"),
        (_tar_with(tmp_path, "readme", b"x"), "has no manifest.json"),
        (_tar_with(tmp_path, "manifest.json", b"{not json"), "is not JSON"),
        (_tar_with(tmp_path, "manifest.json", json.dumps({"format": 99}).encode()), "unknown bundle format 99"),
    ]
    for path, message in cases:
        with pytest.raises(LabError, match=message) as caught:
            read_manifest(path)
        assert "\n" not in str(caught.value)


def test_lab_show_prints_a_bundle_or_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lab.cli import main

    path = write_bundle(tmp_path / "r.tar.gz", MANIFEST, {})
    assert main(["show", str(path)]) == 0
    assert "FAIL close_wait" in capsys.readouterr().out
    assert main(["show", str(tmp_path / "nope.tar.gz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("epoll-lab: error: no such file") and err.count("\n") == 1
