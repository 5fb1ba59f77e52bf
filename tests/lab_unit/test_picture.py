"""The timeline picture: phases and lines from a saved case's JSON, and a PNG drawn from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.chaos.run.picture import Phase, draw, main, phases, series, timeline_figure


def sample(t: float, *, fds: int = 8, close_wait: int = 0, cpu: int = 10) -> dict[str, Any]:
    return {"t": t, "pids": [1], "fds": fds, "fd_kinds": {}, "tcp": {"LISTEN": 1, "CLOSE_WAIT": close_wait},
            "cpu_ticks": cpu, "clk_tck": 100, "rss_bytes": 14 << 20, "start_ticks": 5}


def saved_case() -> dict[str, Any]:
    """A case whose runner clock started at monotonic 100.5; the baseline was read at 100.0."""
    return {
        "case": "connect_and_close", "seed": 1, "target": "bundled server, trigger=level", "started": 100.5,
        "baseline": sample(100.0), "samples": [sample(101.0, fds=28, close_wait=20, cpu=20), sample(101.5, cpu=70)],
        "settled": sample(103.0, fds=28, close_wait=20, cpu=90),
        "events": [{"t": 0.5, "event": "clients started"},
                   {"t": 0.7, "event": "fault packet_loss 5%(before the clients, until the clients are done)"},
                   {"t": 1.5, "event": "fault packet_loss lifted: dropped 3 packets in, 1 out"},
                   {"t": 1.6, "event": "clients done, toxics removed"}],
        "idle_cpu": {"start": sample(103.0), "end": sample(104.5), "cpu_share": 0.5},
        "held_cpu": None,
        "verdicts": [{"check": "close_wait", "ok": False, "message": "20 sockets", "applicable": True}],
        "evidence": {"folder": "reports/captures/connect_and_close--level"},
    }


def test_phases_are_placed_on_the_probe_clock() -> None:
    found = [(p.label, round(p.start, 6), round(p.end, 6), p.note) for p in phases(saved_case())]
    assert found == [(p.label, p.start, p.end, p.note) for p in [
        Phase("baseline", 0.0, 1.0), Phase("clients", 1.0, 2.1),
        Phase("fault", 1.2, 2.0, "packet_loss 5%(before the clients, until the clients are done)"),
        Phase("settle", 2.1, 3.0), Phase("CPU window", 3.0, 4.5, "after the case: 50%")]]


def test_without_the_runner_clock_only_the_cpu_windows_are_placed() -> None:
    data = saved_case() | {"started": None}
    assert [phase.label for phase in phases(data)] == ["CPU window"]


def test_series_are_seconds_from_the_baseline_with_cpu_as_a_share_of_a_core() -> None:
    lines = series(saved_case())
    assert lines["fds"] == [(0.0, 8), (1.0, 28), (1.5, 8), (3.0, 28)]
    assert lines["CLOSE_WAIT"][1] == (1.0, 20)
    assert lines["cpu %"] == [(1.0, 10.0), (1.5, 100.0), (3.0, 20 / 1.5)]


def test_draw_writes_a_png(tmp_path: Path) -> None:
    out = draw(saved_case(), tmp_path / "t.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_phase_note_stays_inside_its_panel_and_every_text_inside_the_picture() -> None:
    import matplotlib.pyplot as plt

    data = saved_case()
    data["idle_cpu"] = {"start": sample(104.3), "end": sample(104.5), "cpu_share": 0.5}  # short, at the right edge
    figure = timeline_figure(data)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        whole = figure.bbox
        notes = [child for axis in figure.axes for child in axis.texts]
        assert [note.get_text() for note in notes] == ["packet_loss 5%(before the clients, until the clients are "
                                                       "done)", "after the case: 50%"]
        for axis in figure.axes:
            for note in axis.texts:
                box, panel = note.get_window_extent(renderer), axis.get_window_extent(renderer)
                assert panel.x0 <= box.x0 and box.x1 <= panel.x1, note.get_text()
        drawn = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)  # whatever is drawn, in pixels
        assert whole.x0 <= drawn.x0 and drawn.x1 <= whole.x1 and whole.y0 <= drawn.y0 and drawn.y1 <= whole.y1
    finally:
        plt.close(figure)


def test_the_command_line_draws_a_saved_file_or_says_in_one_line_why_not(tmp_path: Path, capsys: Any) -> None:
    import json

    source = tmp_path / "case.json"
    source.write_text(json.dumps(saved_case()))
    assert main([str(source)]) == 0 and (tmp_path / "case.png").exists()
    assert main([str(tmp_path / "missing.json")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_a_failing_case_s_timeline_gets_its_picture_unless_it_is_not_wanted(tmp_path: Path) -> None:
    """The suite draws no picture of a zoo variant caught as expected (play.py): the JSON alone, drawn on demand."""
    from lab.chaos.model.checks import Verdict
    from lab.chaos.run.report import save_timeline
    from tests.lab_unit.histories import healthy

    failing = [Verdict("close_wait", ok=False, message="20 sockets")]
    drawn = save_timeline(healthy(), "level", failing, tmp_path / "a")
    assert drawn.exists() and drawn.with_suffix(".png").exists()
    kept = save_timeline(healthy(), "level", failing, tmp_path / "b", picture=False)
    assert kept.exists() and not kept.with_suffix(".png").exists()
    passing = save_timeline(healthy(), "level", [Verdict("close_wait", ok=True)], tmp_path / "c")
    assert not passing.with_suffix(".png").exists()
