"""The Toxiproxy adapter never lets a hung API call hang the suite."""

from __future__ import annotations

import socket

import pytest

from lab.errors import LabError
from lab.toxics import Latency, Slicer
from lab.toxiproxy_api import ToxiproxyAPI


def test_hung_toxiproxy_api_fails_fast_instead_of_hanging() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        api = ToxiproxyAPI(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        with pytest.raises(LabError, match="did not answer"):
            api.version()


def test_toxics_carry_their_units_into_the_api_attributes() -> None:
    assert Latency(latency_ms=300, jitter_ms=50).to_api()["attributes"] == {"latency": 300, "jitter": 50}
    slicer = Slicer(stream="upstream", average_size_bytes=8, size_variation_bytes=4, delay_us=1000)
    assert slicer.to_api() == {"name": "slicer_upstream", "type": "slicer", "stream": "upstream", "toxicity": 1.0,
                               "attributes": {"average_size": 8, "size_variation": 4, "delay": 1000}}


def test_bad_api_url_is_refused() -> None:
    with pytest.raises(ValueError, match="bad Toxiproxy API URL"):
        ToxiproxyAPI("127.0.0.1")
