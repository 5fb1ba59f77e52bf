"""One running lab: a compose project brought up, made ready, and always taken down."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors

from lab import engine, images, settings
from lab.client_agent import CLIENTS_MODULE, ClientAgent
from lab.compose import DEFAULT_TIMEOUT_S as COMPOSE_TIMEOUT_S
from lab.compose import Compose, echo
from lab.errors import LabError
from lab.http_check import http_get
from lab.probe import Probe, Timeline
from lab.toxiproxy_api import ToxiproxyAPI
from lab.wait import wait_until

READY_TIMEOUT_S = 60


@dataclass(frozen=True)
class Endpoints:
    """Where the host and the clients container reach the target."""

    project: str
    direct_url: str  # host → target
    proxied_url: str  # host → Toxiproxy → target
    toxiproxy_url: str  # host → Toxiproxy's API
    lab_direct: str  # clients container → target (host:port)
    lab_proxied: str  # clients container → Toxiproxy → target

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


class Lab:
    """A lab under its own compose project; `with Lab(config) as lab:` removes it on every exit path."""

    def __init__(self, config: settings.LabConfig, *, log: Callable[[str], None] = echo,
                 build_images: bool = True) -> None:
        if config.docker_host:
            engine.use(config.docker_host)  # this process talks to the lab's engine from now on
        self.config = config
        self.compose = Compose(config.project, config.compose_env())
        self._log = log
        self._build_images = build_images
        self._endpoints: Endpoints | None = None
        self._client_agent: ClientAgent | None = None
        self._probe_stream: Timeline | None = None
        self._container_ids: dict[tuple[str, int], str] = {}  # (service, replica): id, until compose recreates

    def __enter__(self) -> Lab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- lifecycle -------------------------------------------------------------------------
    def up(self) -> Endpoints:
        engine.client()  # a clear error first if there is no engine
        if self._build_images:
            images.ensure_images(self._log, also=self.config.foreign_images)
        self._log(f"starting lab {self.config.project}")
        self._compose("up", "-d", "--remove-orphans", "--quiet-pull")
        return self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> Endpoints:
        endpoints = self.endpoints(refresh=True)
        toxiproxy = self.toxiproxy()
        wait_until(toxiproxy.version, timeout=timeout, what="Toxiproxy's API")
        if settings.PROXY_NAME not in toxiproxy.proxies():
            toxiproxy.create_proxy(settings.PROXY_NAME, listen=f"0.0.0.0:{settings.PROXY_LISTEN_PORT}",
                                   upstream=f"{settings.TARGET_SERVICE}:{self.config.target_port}")
        wait_until(lambda: http_get(endpoints.direct_url, timeout=2).status, timeout=timeout,
                   what=f"the target to answer HTTP at {endpoints.direct_url}")
        wait_until(lambda: http_get(endpoints.proxied_url, timeout=2).status, timeout=timeout,
                   what=f"the target to answer through Toxiproxy at {endpoints.proxied_url}")
        wait_until(self.probe().snapshot, timeout=timeout, what="the probe sidecar")
        return endpoints

    def reconfigure(self, config: settings.LabConfig) -> Endpoints:
        """Switch the running lab to another target variant (trigger, bug, fd limit, image)."""
        if config.project != self.config.project:
            raise ValueError("reconfigure keeps the project; use another Lab for another project")
        self.config = config
        self.compose = Compose(config.project, config.compose_env())
        self.end_probe_stream()  # the target and the probe are recreated
        self._compose("up", "-d", "--remove-orphans", "--quiet-pull")
        return self.wait_ready()

    def restart_target(self) -> Endpoints:
        """A fresh target process (and its probe, which shares its PID namespace), ready again; the network
        namespace stays with its holder."""
        self.end_probe_stream()
        self._compose("up", "-d", "--force-recreate", "--no-deps", settings.TARGET_SERVICE, "probe")
        return self.wait_ready()

    def ensure_running(self, service: str) -> None:
        """Start a lab container that a fault stopped or killed, and wait until it is running."""
        container = self.container(service)  # freshly inspected
        if container.status != "running":
            if service in (settings.TARGET_SERVICE, "probe"):
                self.end_probe_stream()  # its agent went with the target's PID namespace
            self._endpoints = None  # a container started again publishes its ports anew
            if container.status == "paused":
                container.unpause()
            else:
                container.start()

        def running() -> bool:
            container.reload()
            return bool(container.status == "running")

        wait_until(running, timeout=30, what=f"the {service} container to run again")

    def down(self) -> None:
        self.end_probe_stream()
        if self._client_agent is not None:
            self._client_agent.close()
            self._client_agent = None
        try:
            self._compose("down", "--volumes", "--remove-orphans", "--timeout", "2", timeout=120)
        except LabError as error:
            self._log(f"compose down failed ({error}); removing by label")
        remove_labelled(project=self.config.project)

    # -- what tests and scenarios use ------------------------------------------------------
    def endpoints(self, *, refresh: bool = False) -> Endpoints:
        if self._endpoints is None or refresh:
            toxiproxy = self.container("toxiproxy")
            direct = self.published_port(self.container(settings.NETNS_SERVICE), self.config.target_port)
            proxied = self.published_port(toxiproxy, settings.PROXY_LISTEN_PORT)
            api = self.published_port(toxiproxy, settings.TOXIPROXY_API_PORT)
            self._endpoints = Endpoints(
                project=self.config.project,
                direct_url=f"http://127.0.0.1:{direct}",
                proxied_url=f"http://127.0.0.1:{proxied}",
                toxiproxy_url=f"http://127.0.0.1:{api}",
                lab_direct=f"{settings.TARGET_SERVICE}:{self.config.target_port}",
                lab_proxied=f"toxiproxy:{settings.PROXY_LISTEN_PORT}",
            )
        return self._endpoints

    @staticmethod
    def published_port(container: Any, port: int) -> int:
        """The host port a container publishes `port` on (it changes when the container starts again). Read from
        the container's own record: `docker compose port` costs a process, 0.1 s, twice a case."""
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{port}/tcp") or []:
            if str(binding.get("HostPort", "")).isdigit():
                return int(binding["HostPort"])
        raise LabError(f"{container.name}:{port} is not published (is the container running?)")

    def _compose(self, *args: str, timeout: float = COMPOSE_TIMEOUT_S) -> None:
        """`docker compose …` on this lab: the containers it may recreate, and their ports, are looked up again."""
        self._container_ids.clear()
        self._endpoints = None
        self.compose.run(*args, timeout=timeout)

    def container(self, service: str, replica: int = 1) -> Any:
        """The service's container, freshly inspected; `replica` (from 1) picks one of a scaled service's (the
        clients' fleet). Its id is kept until compose recreates containers: a lookup by labels lists (and
        inspects) every container of the engine, a dozen times a case."""
        known = self._container_ids.get((service, replica))
        if known is not None:
            try:
                return engine.client().containers.get(known)
            except docker.errors.NotFound:
                del self._container_ids[(service, replica)]
        found = engine.client().containers.list(all=True, filters={"label": [
            f"com.docker.compose.project={self.config.project}", f"com.docker.compose.service={service}",
            f"com.docker.compose.container-number={replica}"]})
        if not found:
            raise LabError(f"lab {self.config.project} has no {service} container #{replica}")
        self._container_ids[(service, replica)] = found[0].id
        return found[0]

    def scale_clients(self, replicas: int) -> None:
        """Run `replicas` clients containers (a fleet), labelled like the rest; 1 removes the others."""
        self._compose("up", "-d", "--no-recreate", "--scale", f"clients={replicas}", "clients")

        def running() -> bool:
            found = engine.client().containers.list(filters={"label": [
                f"com.docker.compose.project={self.config.project}", "com.docker.compose.service=clients"]})
            return len(found) == replicas

        wait_until(running, timeout=60, what=f"{replicas} clients containers")

    def network(self, name: str) -> Any:
        """One of the compose file's networks (e.g. "lab") as a Docker SDK network."""
        return engine.client().networks.get(f"{self.config.project}_{name}")

    def toxiproxy(self) -> ToxiproxyAPI:
        return ToxiproxyAPI(self.endpoints().toxiproxy_url)

    def probe(self) -> Probe:
        return Probe(self.container("probe"))

    def probe_stream(self, interval_s: float) -> Timeline:
        """The probe's stream of readings, one for as long as the target and its probe live: each case begins on
        it (Timeline.begin_case) rather than paying a `docker exec` and an interpreter's start of its own. Whatever
        recreates or restarts the target ends it (`docker exec -i` would not notice its agent is gone)."""
        if self._probe_stream is not None and not self._probe_stream.alive():
            self.end_probe_stream()
        if self._probe_stream is None:
            self._probe_stream = Timeline(self.probe().watch_command(interval_s)).__enter__()
        return self._probe_stream

    def end_probe_stream(self) -> None:
        """End the probe's stream at once (a new one starts with the next case)."""
        stream, self._probe_stream = self._probe_stream, None
        if stream is not None:
            stream.target_gone()  # no wait for an agent that may be gone with the target: our client is killed
            stream.__exit__(None, None, None)

    def client_agent(self) -> ClientAgent:
        """The clients container's `python -m clients serve`: client runs without a `docker exec` each."""
        if self._client_agent is None:
            name = self.container("clients").name
            self._client_agent = ClientAgent([engine.require_docker_cli(), "exec", "-i", name, *CLIENTS_MODULE,
                                              "serve"])
        return self._client_agent

    def exec(self, service: str, args: list[str], *, timeout: float,
             replica: int = 1) -> subprocess.CompletedProcess[bytes]:
        """`docker exec` in a lab container, bounded by `timeout` (the SDK's exec has none)."""
        name = self.container(service, replica).name
        try:
            return subprocess.run([engine.require_docker_cli(), "exec", name, *args], capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"`{' '.join(args[:4])} …` in {service} did not finish within {timeout:g} s") from None


def labelled_containers(client: Any, label: str) -> list[Any]:
    """Containers carrying `label`, from one list call (sparse): other labs come and go meanwhile, and a full
    listing inspects each container in turn, failing on one removed since the list."""
    return list(client.containers.list(all=True, sparse=True, filters={"label": label}))


def container_name(container: Any) -> str:
    """A sparse container's name (its `name` is only filled by a full inspect)."""
    names = container.attrs.get("Names") or []
    return str(names[0]).lstrip("/") if names else str(container.short_id)


def remove_labelled(*, project: str | None = None) -> list[str]:
    """Force-remove containers, networks and volumes with the lab's labels; returns what went."""
    label = f"{settings.LABEL_PROJECT}={project}" if project else f"{settings.LABEL_LAB}=true"
    client = engine.client()
    removed: list[str] = []
    failed: list[str] = []
    for kind, collection in (("container", client.containers), ("network", client.networks),
                             ("volume", client.volumes)):
        listing = labelled_containers(client, label) if kind == "container" else (
            collection.list(filters={"label": label}))
        for resource in listing:
            name = container_name(resource) if kind == "container" else resource.name
            try:
                if kind == "network":
                    resource.remove()
                else:
                    resource.remove(force=True)
            except docker.errors.NotFound:
                continue  # removed meanwhile by compose or another cleanup
            except docker.errors.APIError as error:  # keep removing the rest
                failed.append(f"{kind} {name} ({error.explanation or error})")
                continue
            removed.append(f"{kind} {name}")
    if failed:
        raise LabError(f"could not remove {len(failed)} lab resources: {'; '.join(failed)}; "
                       "`make lab-down` tries again")
    return removed


def leftovers(*, project: str | None = None) -> list[str]:
    """What still carries the lab's labels (for tests and `lab status`)."""
    label = f"{settings.LABEL_PROJECT}={project}" if project else f"{settings.LABEL_LAB}=true"
    client = engine.client()
    found = [f"container {container_name(c)}" for c in labelled_containers(client, label)]
    found += [f"network {n.name}" for n in client.networks.list(filters={"label": label})]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": label})]
    return found


def remove_labelled_everywhere() -> list[str]:
    """`remove_labelled` on every configured engine (LAB_DOCKER_HOSTS); goes on past an engine that fails."""
    hosts = engine.configured_hosts()
    removed: list[str] = []
    failed: list[str] = []
    for host in hosts:
        try:
            with engine.using(host):
                gone = remove_labelled()
        except LabError as error:
            failed.append(f"engine {engine.describe(host)}: {error}")
            continue
        removed += [f"{item} (engine {engine.describe(host)})" if len(hosts) > 1 else item for item in gone]
    if failed:
        raise LabError("; ".join(failed))
    return removed


def labs_everywhere() -> dict[str, dict[str, int]]:
    """Per engine, the lab projects it runs and how many containers each has."""
    labs: dict[str, dict[str, int]] = {}
    for host in engine.configured_hosts():
        with engine.using(host):
            projects: dict[str, int] = {}
            for container in labelled_containers(engine.client(), f"{settings.LABEL_LAB}=true"):
                project = (container.attrs.get("Labels") or {}).get(settings.LABEL_PROJECT, "?")
                projects[project] = projects.get(project, 0) + 1
        labs[engine.describe(host)] = dict(sorted(projects.items()))
    return labs
