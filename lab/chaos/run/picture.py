"""A case's timeline as a picture (matplotlib, host side): fds, sockets by state, CPU and RSS over time.

Drawn from the case's saved JSON (lab.chaos.run.report.save_timeline), so any saved run can be drawn again:
`python -m lab.chaos.run.picture reports/latest/timelines/CASE--VARIANT.json [OUT.png]`.
Phases (baseline, clients, fault, settle, CPU windows) are bands; baselines and the checks' bounds are dashed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.chaos.model import catalog
from lab.chaos.model.scenario import Limits

MiB = 1 << 20
STATES = {"ESTABLISHED": "#1f77b4", "CLOSE_WAIT": "#d62728", "TIME_WAIT": "#7f7f7f", "FIN_WAIT1": "#9467bd",
          "FIN_WAIT2": "#8c564b", "LAST_ACK": "#e377c2"}
PHASE_COLOURS = {"baseline": "#dddddd", "clients": "#cfe3f7", "fault": "#d62728", "settle": "#d9f2d0",
                 "CPU window": "#fde9b5"}


@dataclass(frozen=True)
class Phase:
    label: str  # one of PHASE_COLOURS
    start: float  # seconds from the first probe reading
    end: float
    note: str = ""


def _samples(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = [data["baseline"], *data.get("samples", []), *([data["settled"]] if data.get("settled") else [])]
    by_time = {float(sample["t"]): sample for sample in found}  # the settled reading is one of the samples
    return [by_time[t] for t in sorted(by_time)]


def _events(data: dict[str, Any], t0: float) -> list[tuple[float, str]]:
    """Runner events on the probe's clock (both are CLOCK_MONOTONIC), relative to t0; none without `started`."""
    if data.get("started") is None:
        return []
    return [(float(data["started"]) + float(e["t"]) - t0, str(e["event"])) for e in data.get("events", [])]


def phases(data: dict[str, Any]) -> list[Phase]:
    """The case's phases, in seconds from the first probe reading."""
    samples = _samples(data)
    t0 = float(samples[0]["t"])
    events = _events(data, t0)

    def first(prefix: str) -> float | None:
        return next((t for t, text in events if text.startswith(prefix)), None)

    found: list[Phase] = []
    started, done = first("clients started"), first("clients done")
    if started is not None:
        found.append(Phase("baseline", 0.0, started))
        found.append(Phase("clients", started, done if done is not None else float(samples[-1]["t"]) - t0))
    applied = next(((t, text) for t, text in events if text.startswith("fault ") and "lifted" not in text), None)
    if applied is not None:
        kind = re.match(r"fault (\w+)", applied[1])
        lifted = first(f"fault {kind[1]} lifted") if kind else None
        end = lifted if lifted is not None and lifted > applied[0] else (done or applied[0])
        found.append(Phase("fault", applied[0], max(end, applied[0] + 0.05), applied[1].removeprefix("fault ")))
    if done is not None and data.get("settled"):
        found.append(Phase("settle", done, float(data["settled"]["t"]) - t0))
    for key, label in (("held_cpu", "while connections were held"), ("idle_cpu", "after the case")):
        window = data.get(key)
        if window:
            found.append(Phase("CPU window", float(window["start"]["t"]) - t0, float(window["end"]["t"]) - t0,
                               f"{label}: {100 * float(window['cpu_share']):.0f}%"))
    return found


def series(data: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Each drawn line as (seconds from the first reading, value)."""
    samples = _samples(data)
    t0 = float(samples[0]["t"])
    out: dict[str, list[tuple[float, float]]] = {"fds": [], "cpu %": [], "RSS MiB": [],
                                                 **{state: [] for state in STATES}}
    previous: dict[str, Any] | None = None
    for sample in samples:
        t = float(sample["t"]) - t0
        out["fds"].append((t, sample["fds"]))
        out["RSS MiB"].append((t, sample["rss_bytes"] / MiB))
        for state in STATES:
            out[state].append((t, sample["tcp"].get(state, 0)))
        if previous is not None and float(sample["t"]) > float(previous["t"]):
            share = ((sample["cpu_ticks"] - previous["cpu_ticks"]) / sample["clk_tck"]
                     / (float(sample["t"]) - float(previous["t"])))
            out["cpu %"].append((t, 100 * share))
        previous = sample
    return out


def _limits(case_id: str) -> Limits:
    try:
        return catalog.get(case_id).limits
    except KeyError:  # a case no longer in the catalog: the default bounds
        return Limits()


def timeline_figure(data: dict[str, Any]) -> Any:
    """The timeline of one saved case (its JSON) as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = series(data)
    limits = _limits(str(data["case"]))
    baseline = data["baseline"]
    verdicts = data.get("verdicts", [])
    failed = [v["check"] for v in verdicts
              if v.get("applicable", True) and not v.get("ok", True) and not v.get("missing", False)]
    unjudged = [v["check"] for v in verdicts if v.get("missing", False)]
    figure, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True, layout="constrained")
    evidence = data.get("evidence")
    figure.suptitle(f"{data['case']} (seed {data['seed']}): {data['target']}\n"
                    + (f"FAILED: {', '.join(failed)}" if failed else "" if unjudged else "all checks passed")
                    + (f"{'; ' if failed else ''}ERROR, data missing for: {', '.join(unjudged)}" if unjudged else "")
                    + (f"\ncapture and trace: {evidence['folder']}" if evidence else ""), fontsize=10)
    panels: list[tuple[str, list[str], list[tuple[float, str]]]] = [
        ("open fds", ["fds"], [(baseline["fds"], f"baseline {baseline['fds']} (fd_leak: back to it)")]),
        ("TCP sockets", [s for s in STATES if any(v for _, v in lines[s])],
         [(baseline["tcp"].get("CLOSE_WAIT", 0), "baseline CLOSE_WAIT (close_wait bound)")]),
        ("CPU, % of a core", ["cpu %"], [(100 * limits.max_idle_cpu, f"cpu_spin bound {limits.max_idle_cpu:.0%}")]),
        ("RSS, MiB", ["RSS MiB"], [(baseline["rss_bytes"] / MiB, "baseline RSS"),
                                   ((baseline["rss_bytes"] + limits.max_rss_growth_bytes) / MiB,
                                    f"memory_growth bound +{limits.max_rss_growth_bytes / MiB:.0f} MiB")]),
    ]
    found_phases = phases(data)
    bands: dict[str, Any] = {}
    for axis, (title, keys, bounds) in zip(axes, panels, strict=True):
        for phase in found_phases:
            if phase.label == "fault":  # hatched: the clients' band stays visible under it
                bands[phase.label] = axis.axvspan(phase.start, phase.end, facecolor="none", hatch="/", lw=0,
                                                  edgecolor=PHASE_COLOURS["fault"] + "55")
            else:
                bands[phase.label] = axis.axvspan(phase.start, phase.end, color=PHASE_COLOURS[phase.label],
                                                  alpha=0.6, lw=0)
        for key in keys:
            points = lines[key]
            if points:
                axis.plot([t for t, _ in points], [v for _, v in points], marker=".", ms=3, lw=1.5,
                          color=STATES.get(key, "#222222"), label=key)
        for value, text in bounds:
            axis.axhline(value, ls="--", lw=1, color="#555555", label=text)
        axis.set_ylabel(title)
        highest = max([v for key in keys for _, v in lines[key]] + [value for value, _ in bounds] + [1.0])
        axis.set_ylim(0, highest * 1.25)  # headroom for the phase notes
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    if bands:
        figure.legend(list(bands.values()), [f"phase: {label}" for label in bands], loc="outside lower center",
                      ncols=len(bands), fontsize=8)
    notes = {"fault": axes[0], "CPU window": axes[2]}  # which panel names the phase
    left, right = axes[0].get_xlim()
    for phase in found_phases:
        if phase.note and phase.label in notes:
            # A phase in the right part of the picture is named from its end leftwards: inside the panel.
            late = phase.start > left + 0.6 * (right - left)
            notes[phase.label].annotate(phase.note, xy=(phase.end if late else phase.start, 0.97),
                                        xycoords=("data", "axes fraction"), xytext=(-3 if late else 3, 0),
                                        textcoords="offset points", ha="right" if late else "left", va="top",
                                        fontsize=7, annotation_clip=False,
                                        bbox={"boxstyle": "round", "fc": "white", "ec": "#999999", "alpha": 0.85})
    axes[-1].set_xlabel("seconds since the baseline reading")
    return figure


def draw(data: dict[str, Any], path: Path) -> Path:
    """Draw the timeline of one saved case (its JSON) into `path` (PNG or SVG by the suffix)."""
    import matplotlib.pyplot as plt

    figure = timeline_figure(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: python -m lab.chaos.run.picture TIMELINE.json [OUT.png]", file=sys.stderr)
        return 2
    source = Path(argv[0])
    try:
        data = json.loads(source.read_text())
        out = draw(data, Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"cannot draw {source}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
