"""A timeline as an SVG picture (no plotting library): fds, sockets by state, CPU and RSS over time."""

from __future__ import annotations

from html import escape

from lab.chaos.history import CaseHistory
from lab.probe import Snapshot

WIDTH, PANEL_HEIGHT, MARGIN = 760, 110, 50
STATE_COLOURS = {"ESTABLISHED": "#1f77b4", "CLOSE_WAIT": "#d62728", "TIME_WAIT": "#7f7f7f",
                 "FIN_WAIT1": "#9467bd", "FIN_WAIT2": "#8c564b", "LAST_ACK": "#e377c2"}


def _series(samples: list[Snapshot]) -> dict[str, list[tuple[float, float]]]:
    t0 = samples[0].t
    out: dict[str, list[tuple[float, float]]] = {"fds": [], "cpu %": [], "RSS MiB": []}
    for state in STATE_COLOURS:
        out[state] = []
    previous: Snapshot | None = None
    for sample in samples:
        t = sample.t - t0
        out["fds"].append((t, sample.fds))
        out["RSS MiB"].append((t, sample.rss_bytes / (1 << 20)))
        for state in STATE_COLOURS:
            out[state].append((t, sample.sockets(state)))
        if previous is not None and sample.t > previous.t:
            share = (sample.cpu_ticks - previous.cpu_ticks) / sample.clk_tck / (sample.t - previous.t)
            out["cpu %"].append((t, 100 * share))
        previous = sample
    return out


def timeline_svg(history: CaseHistory, *, title: str) -> str:
    samples = [history.baseline, *history.samples] + ([history.settled] if history.settled else [])
    samples.sort(key=lambda s: s.t)
    panels = [("fds", ["fds"]), ("sockets", list(STATE_COLOURS)), ("cpu %", ["cpu %"]), ("RSS MiB", ["RSS MiB"])]
    height = MARGIN + len(panels) * (PANEL_HEIGHT + 30)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="20" font-size="13">{escape(title)}</text>']
    if len(samples) < 2:
        parts.append('<text x="10" y="40">fewer than two probe samples: nothing to draw</text></svg>')
        return "".join(parts)
    series = _series(samples)
    t_max = max(samples[-1].t - samples[0].t, 1e-3)
    for index, (name, keys) in enumerate(panels):
        top = MARGIN + index * (PANEL_HEIGHT + 30)
        values = [v for key in keys for _, v in series[key]] or [0.0]
        v_max = max(max(values), 1.0)
        parts.append(f'<text x="10" y="{top - 4}">{escape(name)} (max {v_max:.0f})</text>')
        parts.append(f'<rect x="{MARGIN}" y="{top}" width="{WIDTH - 2 * MARGIN}" height="{PANEL_HEIGHT}" '
                     'fill="none" stroke="#ccc"/>')
        for key in keys:
            points = series[key]
            if not points or not any(v for _, v in points):
                continue
            colour = STATE_COLOURS.get(key, "#333")
            coords = " ".join(f"{MARGIN + (WIDTH - 2 * MARGIN) * t / t_max:.1f},"
                              f"{top + PANEL_HEIGHT * (1 - v / v_max):.1f}" for t, v in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>')
            if len(keys) > 1:
                parts.append(f'<text x="{WIDTH - MARGIN + 4}" y="{top + 12 * (keys.index(key) + 1)}" '
                             f'fill="{colour}" font-size="9">{escape(key[:9])}</text>')
    parts.append(f'<text x="{MARGIN}" y="{height - 8}">0 s … {t_max:.1f} s</text></svg>')
    return "".join(parts)
