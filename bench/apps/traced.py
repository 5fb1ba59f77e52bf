"""Run a module and dump its memory on SIGUSR1: `python -m bench.apps.traced OUT_DIR [--trace] -m MODULE ...`.

Each SIGUSR1 writes OUT_DIR/mallocstats-N.txt (sys._debugmallocstats: pymalloc's arenas, used and
free blocks) or, with --trace, OUT_DIR/snapshot-N.pickle (a tracemalloc snapshot; pymalloc reports
nothing while tracemalloc hooks it), then the marker OUT_DIR/done-N, for bench/profile.py.
"""

from __future__ import annotations

import itertools
import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def _malloc_stats(path: Path) -> None:
    """sys._debugmallocstats() writes to fd 2; point fd 2 at the file for the call."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("wb") as out:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main() -> None:
    out_dir = Path(sys.argv[1])
    trace = sys.argv[2] == "--trace"
    rest = sys.argv[3:] if trace else sys.argv[2:]
    if len(rest) < 2 or rest[0] != "-m":
        raise SystemExit("usage: python -m bench.apps.traced OUT_DIR [--trace] -m MODULE [ARGS...]")
    module = rest[1]
    numbers = itertools.count()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        number = next(numbers)
        if trace:
            tracemalloc.take_snapshot().dump(str(out_dir / f"snapshot-{number}.pickle"))
        else:
            _malloc_stats(out_dir / f"mallocstats-{number}.txt")
        (out_dir / f"done-{number}").touch()

    signal.signal(signal.SIGUSR1, dump)
    if trace:
        tracemalloc.start(1)
    sys.argv = [module, *rest[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
