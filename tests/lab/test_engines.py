"""Labs spread over two Docker engines (LAB_DOCKER_HOSTS): a short scorecard on both, then on one.

The second engine runs beside the first on this machine (tests/lab/second_engine.py). The scorecard's
two xdist workers take one engine each (gwN: engine N mod 2); each lab stays on its engine.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from lab import engine, images, settings
from lab.instance import container_name, labelled_containers
from lab.settings import LABEL_LAB, LABEL_PROJECT, REPO_ROOT
from tests.lab.second_engine import Engine, processes_mentioning, second_engine, unavailable_reason

# Quick cases that do not depend on timing: pipelining, split CRLFs, an error status for garbage, a half-close,
# clients that vanish, a fragmented POST.
CASES = ("pipelined", "split_crlf", "garbage", "half_close", "connect_and_close", "fragmented_random")
SEED = 1414
SCORECARD_TIMEOUT_S = 300
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def first_engine() -> str:
    """The engine the rest of the suite uses, as users name it in LAB_DOCKER_HOSTS: `local` unless DOCKER_HOST."""
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        return host
    if not Path(DEFAULT_SOCKET.removeprefix("unix://")).is_socket():
        pytest.skip(f"the first engine is neither DOCKER_HOST nor {DEFAULT_SOCKET}")
    # `local` is the environment's own engine: a worker on the second engine must still save from this one
    # (its DOCKER_HOST points elsewhere then; a `docker save` that inherited it read the empty engine).
    return "local"


def endpoint(host: str) -> str:
    """A Docker SDK base URL for an engine as LAB_DOCKER_HOSTS names it."""
    return engine.resolve_host(host) or DEFAULT_SOCKET


def result_name(host: str) -> str:
    """How results name an engine (`local` for the environment's own)."""
    return engine.describe(engine.resolve_host(host))


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[str, Engine]]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    first = first_engine()
    with second_engine() as second:
        yield first, second


def scorecard(hosts: tuple[str, ...], run_id: str) -> tuple[dict[str, Any], list[str], float]:
    """The scorecard's JSON, the lines it said while playing, and how long it took."""
    env = {**os.environ, "LAB_DOCKER_HOSTS": ",".join(hosts), "LAB_RUN_ID": run_id}
    env.pop("PYTEST_XDIST_WORKER", None)  # the scorecard's own workers decide their engines
    command = [sys.executable, "-m", "lab", "scorecard", "--cases", ",".join(CASES), "--trigger", "level",
               "--workers", "2", "--seed", str(SEED), "--json"]
    began = time.monotonic()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=SCORECARD_TIMEOUT_S, check=False)
    elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr.splitlines(), elapsed


def outcomes(card: dict[str, Any]) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    return {(case["id"], case["variant"]): (case["outcome"], tuple(case["failed_checks"])) for case in card["cases"]}


def differences(spread: dict[str, Any], single: dict[str, Any]) -> str:
    """Each case judged otherwise by the two scorecards, with both runs' messages and engines."""
    by_case = {(case["id"], case["variant"]): case for case in single["cases"]}
    lines = []
    for case in spread["cases"]:
        other = by_case.get((case["id"], case["variant"]))
        if other is None or (case["outcome"], case["failed_checks"]) != (other["outcome"], other["failed_checks"]):
            lines.append(f"{case['id']} ({case['variant']}): two engines {case['outcome']} on {case['engine']} "
                         f"{case['messages']}; one engine {other and other['outcome']} {other and other['messages']}")
    return "\n".join(lines)


def labelled(host: str, run_id: str) -> list[str]:
    """What carries the lab's labels on `host` from labs of this run (other labs may share the engine)."""
    client = docker.DockerClient(base_url=host, timeout=60)
    try:
        prefix = f"-{run_id}-"
        found = [f"container {container_name(c)}" for c in labelled_containers(client, f"{LABEL_LAB}=true")
                 if prefix in (c.attrs.get("Labels") or {}).get(LABEL_PROJECT, "")]
        found += [f"network {n.name}" for n in client.networks.list(filters={"label": f"{LABEL_LAB}=true"})
                  if prefix in (n.attrs.get("Labels") or {}).get(LABEL_PROJECT, "")]
        found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": f"{LABEL_LAB}=true"})
                  if prefix in (v.attrs.get("Labels") or {}).get(LABEL_PROJECT, "")]
        return found
    finally:
        client.close()


def copy_images_to(first: str, second: str, monkeypatch: pytest.MonkeyPatch) -> float:
    """What the scorecard's worker on the second engine would do first: current images there, from the first."""
    monkeypatch.setattr(engine, "_hosts_setting", f"{first},{second}")  # as an edge's engine.set_hosts does
    began = time.monotonic()
    with engine.using(second):
        images.ensure_images(lambda _: None)
        copied = {tag: engine.image_id(tag) for tag in (settings.SERVER_IMAGE, settings.CLIENTS_IMAGE)}
    with engine.using(engine.resolve_host(first)):
        assert copied == {tag: engine.image_id(tag) for tag in copied}
    return time.monotonic() - began


def test_a_scorecard_spread_over_two_engines_matches_one_engine(engines: tuple[str, Engine],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The second engine starts cold: no image on it, the scorecard copies them there before its first case."""
    first, second = engines
    spread_run, single_run = f"two{secrets.token_hex(2)}", f"one{secrets.token_hex(2)}"
    with engine.using(second.host):
        assert engine.image_id(settings.SERVER_IMAGE) is None, "the second engine must start without images"

    spread, said, spread_s = scorecard((first, second.host), spread_run)
    copied = [index for index, line in enumerate(said) if f"to {second.host}" in line and "copying" in line]
    played = [index for index, line in enumerate(said) if line.startswith("case ")]
    assert copied and played and copied[-1] < played[0], "\n".join(said)  # no case beside a copy's load
    assert {case["outcome"] for case in spread["cases"]} <= {"pass", "fail"}, spread["cases"]
    assert {case["engine"] for case in spread["cases"]} == {result_name(first), second.host}
    assert labelled(endpoint(first), spread_run) == [] and labelled(second.host, spread_run) == []
    copy_s = copy_images_to(first, second.host, monkeypatch)  # already current: nothing left to copy

    single, _, single_s = scorecard((first,), single_run)
    assert {case["engine"] for case in single["cases"]} == {result_name(first)}
    assert labelled(endpoint(first), single_run) == []

    assert outcomes(spread) == outcomes(single), differences(spread, single)
    assert set(outcomes(single)) == {(case, "level") for case in CASES}
    print(f"scorecard of {len(CASES)} cases, 2 workers: one engine {single_s:.1f} s, two engines {spread_s:.1f} s "
          f"from a cold second engine (a second copy found nothing stale in {copy_s:.1f} s)")


class Boom(Exception):
    pass


def test_the_second_engine_is_gone_after_a_failure_inside() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with pytest.raises(Boom), second_engine() as inside:
        client = docker.DockerClient(base_url=inside.host, timeout=30)
        assert client.ping()
        client.close()
        raise Boom
    assert not Path(f"/sys/class/net/{inside.name}").exists()  # the bridge
    assert not Path(inside.host.removeprefix("unix://")).exists()
    assert not Path("/var/lib/epoll-lab-engines", inside.name).exists()
    assert processes_mentioning(inside.name) == []
    forward = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, timeout=30, check=False)
    assert inside.name not in forward.stdout
