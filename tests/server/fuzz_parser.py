"""Coverage-guided fuzzing of the request parser with atheris (libFuzzer for Python).

The properties are in ``tests/server/parser_properties.py``. ``python -m tests.server.fuzz_parser
[libFuzzer flags] [CORPUS_DIR ...]`` runs it (``make fuzz``: longer; ``tests/server/test_server_fuzz.py``:
a few seconds inside the normal test run). A failure exits non-zero and writes the input to
``crash-*`` under ``-artifact_prefix``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports():  # the parser is instrumented for coverage: imported here first
    from tests.server.parser_properties import SEEDS, check


def main(argv: list[str]) -> None:
    corpus = [arg for arg in argv[1:] if not arg.startswith("-")]
    for directory in corpus:  # seed an empty corpus directory with valid requests
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        if not any(path.iterdir()):
            for number, seed in enumerate(SEEDS):
                (path / f"seed-{number}").write_bytes(seed)
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
