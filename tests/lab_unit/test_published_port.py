"""The lab's endpoints come from the containers' own records of their published ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lab.errors import LabError
from lab.instance import Lab


@dataclass
class Container:
    name: str = "epl-x-target-1"
    attrs: dict[str, Any] = field(default_factory=dict)


def test_the_host_port_published_for_a_container_port() -> None:
    container = Container(attrs={"NetworkSettings": {"Ports": {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "33941"}], "9000/tcp": None}}})
    assert Lab.published_port(container, 8080) == 33941


@pytest.mark.parametrize("attrs", [{}, {"NetworkSettings": {"Ports": {}}},
                                   {"NetworkSettings": {"Ports": {"8080/tcp": None}}},
                                   {"NetworkSettings": {"Ports": {"8080/tcp": [{"HostPort": ""}]}}}])
def test_a_port_not_published_is_a_one_line_error(attrs: dict[str, Any]) -> None:
    with pytest.raises(LabError, match="epl-x-target-1:8080 is not published"):
        Lab.published_port(Container(attrs=attrs), 8080)


def test_a_container_is_listed_once_then_inspected_by_id_until_compose_recreates_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import docker.errors

    from lab import engine
    from lab.settings import LabConfig

    calls: list[str] = []
    gone: set[str] = set()

    class Listed:
        def __init__(self, ident: str) -> None:
            self.id = ident

    class Containers:
        generation = 0

        def list(self, **_: Any) -> list[Listed]:
            calls.append("list")
            return [Listed(f"id{self.generation}")]

        def get(self, ident: str) -> Listed:
            calls.append(f"get {ident}")
            if ident in gone:
                raise docker.errors.NotFound("removed")
            return Listed(ident)

    class Client:
        containers = Containers()

    class Compose:
        def run(self, *args: str, **_: object) -> None:
            Client.containers.generation += 1  # compose recreates the containers: new ids

    monkeypatch.setattr(engine, "client", Client)
    lab = Lab(LabConfig(project="epl-unit-ids"), log=lambda _: None, build_images=False)
    lab.compose = Compose()  # type: ignore[assignment]
    monkeypatch.setattr(lab, "wait_ready", lambda: None)
    assert lab.container("target").id == "id0" and lab.container("target").id == "id0"
    assert calls == ["list", "get id0"]
    lab.restart_target()
    assert lab.container("target").id == "id1" and calls[-1] == "list"
    gone.add("id1")  # removed behind the lab's back: looked up again
    assert lab.container("target").id == "id1" and calls[-2:] == ["get id1", "list"]


def test_endpoints_are_read_once_and_again_after_compose_or_a_container_started_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The target's port is its namespace holder's: a case's target restart leaves it; compose or a container
    started again (a fault stopped it) may publish new ports."""
    from lab.settings import LabConfig

    reads: list[str] = []
    ports = {"netns": 31000, "toxiproxy": 32000}

    @dataclass
    class Published:
        service: str
        status: str = "running"

        @property
        def attrs(self) -> dict[str, Any]:
            reads.append(self.service)
            port = ports[self.service]
            return {"NetworkSettings": {"Ports": {key: [{"HostPort": str(port)}]
                                                  for key in ("8080/tcp", "18080/tcp", "8474/tcp")}}}

        def reload(self) -> None:
            self.status = "running"

        def start(self) -> None:
            ports[self.service] += 1

    stopped = Published("toxiproxy", status="exited")

    class Compose:
        def run(self, *args: str, **_: object) -> None:
            ports["netns"] += 1

    lab = Lab(LabConfig(project="epl-unit-ports"), log=lambda _: None, build_images=False)
    lab.compose = Compose()  # type: ignore[assignment]
    monkeypatch.setattr(lab, "container", lambda service, replica=1: stopped if service == "toxiproxy"
                        and stopped.status == "exited" else Published(service))
    monkeypatch.setattr(lab, "wait_ready", lambda: None)
    first = lab.endpoints()
    assert lab.endpoints() is first and reads == ["netns", "toxiproxy", "toxiproxy"]  # looked at once
    lab.ensure_running("toxiproxy")  # stopped by a fault: started again, on a new port
    assert lab.endpoints().toxiproxy_url == "http://127.0.0.1:32001"
    lab.restart_target()  # compose
    assert lab.endpoints().direct_url == "http://127.0.0.1:31001"
