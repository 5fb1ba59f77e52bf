"""`lab check`'s route probes (lab/chaos/views/check_command.py): each judge names the profile key that is wrong."""

from __future__ import annotations

from lab.chaos.views.check_command import ECHO_PROBE, route_probes
from lab.profiles import find_profile

PATTERN_1024 = (bytes(range(251)) * 5)[:1024]


def judged(name: str, what: str, status: int, body: bytes) -> str | None:
    probe = next(probe for probe in route_probes(find_profile(name)) if probe[0].startswith(what))
    return probe[4](status, body)


def test_a_correct_answer_passes_every_probe() -> None:
    assert [probe[:3] for probe in route_probes(find_profile("nginx"))] == [
        ("small", "GET", "/"), ("large (1024 bytes)", "GET", "/bytes/1024"), ("echo", "POST", "/echo")]
    assert judged("nginx", "small", 200, b"hello, epoll\n") is None
    assert judged("nginx", "large", 200, PATTERN_1024) is None
    assert judged("nginx", "echo", 200, ECHO_PROBE) is None


def test_each_wrong_answer_names_the_key() -> None:
    assert "routes.small.body" in str(judged("seed-lt", "small", 200, b"hello, epoll\n"))
    assert "routes.small.status" in str(judged("nginx", "small", 404, b""))
    assert "routes.large.path" in str(judged("nginx", "large", 404, b"not found"))
    assert "routes.large.sizes/size" in str(judged("nginx", "large", 200, PATTERN_1024[:1000]))
    assert "routes.large.pattern/sha256" in str(judged("nginx", "large", 200, bytes(1024)))
    assert "routes.echo.path" in str(judged("nginx", "echo", 404, b""))


def test_a_profile_without_routes_probes_its_small_route_only() -> None:
    assert [probe[0] for probe in route_probes(find_profile("seed-lt"))] == ["small"]
