"""Run a module under tracemalloc; SIGUSR1 writes a snapshot: `python -m bench.apps.traced OUT_DIR -m MODULE ...`.

Snapshots go to OUT_DIR/snapshot-N.pickle (N = 0, 1, ...), for bench/profile.py to compare.
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


def main() -> None:
    out_dir = Path(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: python -m bench.apps.traced OUT_DIR -m MODULE [ARGS...]")
    module = sys.argv[3]
    numbers = itertools.count()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        path = out_dir / f"snapshot-{next(numbers)}.pickle"
        tracemalloc.take_snapshot().dump(str(path) + ".part")
        os.replace(str(path) + ".part", path)  # the reader waits for the final name

    signal.signal(signal.SIGUSR1, dump)
    tracemalloc.start(1)
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
