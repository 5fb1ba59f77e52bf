"""``python -m clients list|run|replay``: see docs/architecture.md for the contract."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any, NoReturn

from clients.history import RunHistory, summarize
from clients.registry import BadArgument, all_behaviours
from clients.runner import parse_target, replay, run_behaviour

EXIT_BAD_ARGUMENTS = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        self.exit(EXIT_BAD_ARGUMENTS, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m clients", description="epoll-lab chaos clients")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = commands.add_parser("list", help="the behaviours and their attributes")
    listing.add_argument("--json", action="store_true")

    run = commands.add_parser("run", help="run a behaviour against HOST:PORT")
    run.add_argument("behaviour")
    run.add_argument("--target", required=True, help="HOST:PORT, the only address contacted")
    run.add_argument(
        "--seed", type=int, help="seed for every random choice (default: a random one, reported)"
    )
    run.add_argument("--connections", type=int, default=1, help="connections in the run (count)")
    run.add_argument("--concurrency", type=int, help="connections at a time (count; default per behaviour)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="ATTR=VALUE", help="set an attribute"
    )
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    run.add_argument("--record", type=Path, metavar="FILE", help="write the history of operations to FILE")

    again = commands.add_parser("replay", help="play a recorded history again")
    again.add_argument("file", type=Path)
    again.add_argument("--target", help="HOST:PORT to play against (default: the recorded target)")
    again.add_argument("--json", action="store_true")
    again.add_argument("--record", type=Path, metavar="FILE", help="write the replay's own history to FILE")
    return parser


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BadArgument(f"--set expects ATTR=VALUE, got {pair!r}")
        overrides[name.strip()] = value
    return overrides


def _list(as_json: bool) -> None:
    behaviours = all_behaviours()
    if as_json:
        encoded = [
            {"name": cls.name, "summary": cls.summary, "attributes": [a.to_json() for a in cls.attributes]}
            for cls in behaviours
        ]
        print(json.dumps(encoded, indent=1))
        return
    for cls in behaviours:
        print(f"{cls.name}: {cls.summary}")
        for attribute in cls.attributes:
            default = json.dumps(attribute.default)  # true/false and quoted text, as --json shows them
            print(f"    {attribute.name} = {default} ({attribute.describe_type()}): {attribute.doc}")
        print()


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    summary = result["summary"]
    print(
        f"{result['behaviour']} seed={result['seed']} target={result['target']} "
        f"duration={result['duration_s']:.3f}s connections={summary['connections']}"
    )
    expected = f"{summary['expected_ok']}/{summary['expected_failed']}"
    print(f"  status={summary['status']} expected ok/failed={expected}")
    print(f"  closed_by={summary['closed_by']} errors={summary['errors']}")
    print(f"  bytes_sent={summary['bytes_sent']} bytes_received={summary['bytes_received']}")
    for conn in result["connections"][:20]:
        statuses = [response["status"] for response in conn["responses"]]
        print(
            f"  #{conn['index']}: responses={statuses} sent={conn['bytes_sent']} "
            f"received={conn['bytes_received']} closed_by={conn['closed_by']} "
            f"after {conn['elapsed_s']:.3f}s error={conn['error']}"
        )


def _load(path: Path) -> RunHistory:
    try:
        return RunHistory.load(path)
    except OSError as exc:
        raise BadArgument(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadArgument(f"{path} is not a history file: {exc}") from None


def _check_record_path(path: Path | None) -> None:
    """Fail before the run, not after it, when the history could not be written."""
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        raise BadArgument(f"--record {path}: not a file in an existing directory")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command != "list":
            _check_record_path(args.record)
        if args.command == "list":
            _list(args.json)
            return 0
        if args.command == "run":
            history = run_behaviour(
                args.behaviour,
                parse_target(args.target),
                seed=secrets.randbits(32) if args.seed is None else args.seed,
                connections=args.connections,
                concurrency=args.concurrency,
                overrides=_overrides(args.overrides),
            )
        else:
            recorded = _load(args.file)
            target = None if args.target is None else parse_target(args.target)
            history = replay(recorded, target, source=str(args.file))
    except BadArgument as exc:
        print(f"python -m clients: error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    if args.record is not None:
        try:
            history.save(args.record)
        except OSError as exc:
            print(f"python -m clients: error: cannot write {args.record}: {exc.strerror}", file=sys.stderr)
            return EXIT_BAD_ARGUMENTS
    _print_result(summarize(history), args.json)
    return 0
