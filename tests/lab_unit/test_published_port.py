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
