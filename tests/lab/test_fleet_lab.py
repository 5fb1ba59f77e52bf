"""A clients fleet on a real lab: replicas labelled like the rest, each reachable, scaled back to one."""

from __future__ import annotations

from lab import engine
from lab.instance import Lab
from lab.settings import LABEL_LAB, LABEL_PROJECT


def clients_containers(lab: Lab) -> list[dict[str, str]]:
    found = engine.client().containers.list(filters={"label": [
        f"com.docker.compose.project={lab.config.project}", "com.docker.compose.service=clients"]})
    return [dict(container.labels) for container in found]


def test_the_clients_service_scales_to_a_fleet_and_back(lab: Lab) -> None:
    try:
        lab.scale_clients(3)
        labels = clients_containers(lab)
        assert sorted(label["com.docker.compose.container-number"] for label in labels) == ["1", "2", "3"]
        assert all(label[LABEL_LAB] == "true" and label[LABEL_PROJECT] == lab.config.project for label in labels)
        names = {lab.exec("clients", ["hostname"], timeout=30, replica=replica).stdout for replica in (1, 2, 3)}
        assert len(names) == 3  # three containers, each reached by its number
    finally:
        lab.scale_clients(1)
    assert [label["com.docker.compose.container-number"] for label in clients_containers(lab)] == ["1"]
