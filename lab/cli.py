"""`python -m lab`: bring labs up and down, look at them. Errors are one line, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import docker.errors
import requests

from lab import engine, findings, images, settings
from lab.chaos.run import targets
from lab.chaos.views import coverage
from lab.chaos.views.commands import add_commands as add_chaos_commands
from lab.chaos.views.compare_command import add_compare_command
from lab.compose import echo
from lab.errors import LabError
from lab.instance import Lab, labs_everywhere, leftovers, remove_labelled_everywhere
from lab.profile_command import add_profile_command

Command = Callable[[argparse.Namespace], int]


def _saved_config_path(project: str) -> Path:
    return settings.STATE_DIR / f"{project}.json"


def save_config(config: settings.LabConfig) -> None:
    settings.STATE_DIR.mkdir(exist_ok=True)
    _saved_config_path(config.project).write_text(json.dumps(asdict(config)))


def load_config(project: str) -> settings.LabConfig:
    path = _saved_config_path(project)
    if path.exists():
        try:
            return settings.LabConfig(**json.loads(path.read_text()))
        except (ValueError, TypeError):  # written by another version: the environment's defaults will do
            echo(f"ignoring unreadable {path}")
    return settings.LabConfig.from_env(os.environ, project=project)


def config_from_args(args: argparse.Namespace) -> settings.LabConfig:
    overrides: dict[str, object] = {"target_image": args.target_image, "target_port": args.target_port}
    profile = targets.active_profile(args.profile, args.target_image, args.target_port) if args.profile else None
    adhoc = coverage.adhoc_image(args.target_image, args.profile)
    if adhoc is not None:
        echo(coverage.adhoc_note(adhoc, args.target_port))
    if profile is not None:
        targets.build_image(profile)
        overrides = targets.config_overrides(profile)
    return settings.LabConfig.from_env(os.environ, project=args.project, trigger=args.trigger, bug=args.bug,
                                       docker_host=engine.choose(args.engine), **overrides)


def print_endpoints(lab: Lab, as_json: bool) -> None:
    endpoints = lab.endpoints()
    if as_json:
        print(json.dumps(endpoints.to_json(), indent=2))
        return
    print(f"lab {endpoints.project} is ready")
    print(f"  proxied_url    {endpoints.proxied_url}    (through Toxiproxy)")
    print(f"  direct_url     {endpoints.direct_url}    (straight to the target)")
    print(f"  toxiproxy_url  {endpoints.toxiproxy_url}    (Toxiproxy's API)")


@contextlib.contextmanager
def project_lock(project: str) -> Iterator[None]:
    """One `up` or `down` of a project at a time: two at once race compose into duplicate networks."""
    settings.STATE_DIR.mkdir(exist_ok=True)
    with (settings.STATE_DIR / f"{project}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another `lab up` or `lab down` of project {project} is running: wait for it, "
                           "or use another --project") from None
        yield


def cmd_up(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    lab = Lab(config)
    with project_lock(config.project):
        save_config(config)
        try:
            lab.up()
        except BaseException:
            if not args.keep_on_failure:
                lab.down()
                _saved_config_path(config.project).unlink(missing_ok=True)
            raise
    print_endpoints(lab, args.json)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    if args.all:
        removed = remove_labelled_everywhere()
        echo(f"removed {len(removed)} lab resources" + (f": {', '.join(removed)}" if removed else ""))
        return 0
    with project_lock(args.project):
        Lab(load_config(args.project), build_images=False).down()
        _saved_config_path(args.project).unlink(missing_ok=True)
    echo(f"lab {args.project} is down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.all:
        labs = labs_everywhere()
        if args.json:
            print(json.dumps(labs, indent=2))
            return 0
        for host, projects in labs.items():
            print(f"engine {host}: " + (", ".join(f"{name} ({count} containers)" for name, count in projects.items())
                                        or "no labs"))
        return 0
    config = load_config(args.project)
    if config.docker_host:
        engine.use(config.docker_host)
    found = leftovers(project=args.project)
    if not any(item.startswith("container ") for item in found):
        raise LabError(f"lab {args.project} is not running: start it with `make lab-up`")
    lab = Lab(config, build_images=False)
    print_endpoints(lab, args.json)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    Lab(load_config(args.project), build_images=False).compose.logs(tail=args.tail)
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    extra = (*args.extra, *(images.BOARD_SERVERS if args.board else ()))
    images.ensure_images(echo, offline=True if args.offline else None, extra=tuple(dict.fromkeys(extra)))
    echo("images are ready")
    return 0


def cmd_findings(args: argparse.Namespace) -> int:
    return findings.run(tuple(args.slugs))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", metavar="NAME|PATH",
                        help="a target profile: a name in board/profiles/ or a .toml file (image, port, routes, "
                             "deadlines)")
    parser.add_argument("--target-image", help="any HTTP server image (default: the bundled epoll server)")
    parser.add_argument("--target-port", type=int, help="the port it listens on inside its container")
    parser.add_argument("--trigger", choices=settings.TRIGGERS, help="epoll mode of the bundled server")
    parser.add_argument("--bug", help="run a bug-zoo variant of the bundled server")
    parser.add_argument("--engine", help="Docker endpoint or context to run on (default: the least loaded of "
                                         "LAB_DOCKER_HOSTS)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--project", default=settings.DEFAULT_PROJECT, type=_project, help="compose project")
        return sub

    up = command("up", cmd_up, "bring a lab up and print its endpoints when it is ready")
    add_target_options(up)
    up.add_argument("--json", action="store_true")
    up.add_argument("--keep-on-failure", action="store_true", help="leave a lab that failed to start, for its logs")
    down = command("down", cmd_down, "take a lab down")
    down.add_argument("--all", action="store_true",
                      help="remove everything with the lab's labels, on every engine of LAB_DOCKER_HOSTS")
    status = command("status", cmd_status, "print a running lab's endpoints")
    status.add_argument("--json", action="store_true")
    status.add_argument("--all", action="store_true", help="list the labs on every engine of LAB_DOCKER_HOSTS")
    logs = command("logs", cmd_logs, "print the lab's container logs")
    logs.add_argument("--tail", type=int, default=200)
    image_cmd = command("images", cmd_images, "build the lab's images (offline stand-ins when no registry)")
    image_cmd.add_argument("--offline", action="store_true", help="build stand-ins without trying to pull")
    image_cmd.add_argument("--extra", action="append", default=[], metavar="NAME",
                           help=f"also build a board server's image: {', '.join(images.BOARD_SERVERS)}")
    image_cmd.add_argument("--board", action="store_true", help="also build every board server's image")
    found = command("findings", cmd_findings, "confirm each finding (docs/findings/) with its standalone "
                                              "reproducer, and that a server without the defect is not affected")
    found.add_argument("slugs", nargs="*", metavar="SLUG", help="only these findings (findings/<slug>.py)")
    add_chaos_commands(command, add_target_options)
    add_profile_command(command)
    add_compare_command(command)
    return parser


def _project(value: str) -> str:
    try:
        return settings.validate_project(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the exact command, for repro bundles
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated command still takes down what it started
    engine.set_hosts(os.environ.get(engine.HOSTS_ENV, ""))  # the edge: below here no one reads LAB_*
    try:
        return int(args.handler(args))
    except LabError as error:
        print(f"epoll-lab: error: {error}", file=sys.stderr)
        return 1
    except (docker.errors.DockerException, requests.RequestException, OSError, ValueError) as error:
        print(f"epoll-lab: error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("epoll-lab: interrupted", file=sys.stderr)
        return 130
