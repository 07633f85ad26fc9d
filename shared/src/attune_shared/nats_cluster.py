"""A JetStream cluster of local nats-server processes, routed on 127.0.0.1, for the tests and the
benchmark: what a deployment that outgrew one NATS server runs (streams at ``replicas`` 3)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from attune_shared.embedded import EmbeddedServerError, NatsServer
from attune_shared.processes import LOCALHOST, free_port


class ClusterNode(NatsServer):
    """One member of a :class:`NatsCluster`: a JetStream server with a route port and routes to
    every member (its own route is ignored by nats-server)."""

    def __init__(self, data_dir: Path, cluster_name: str, route_port: int, routes: list[int]) -> None:
        super().__init__(data_dir)
        self.cluster_name = cluster_name
        self.route_port = route_port
        self.routes = routes

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster_name",
            self.cluster_name,
            "--cluster",
            f"nats://{LOCALHOST}:{self.route_port}",
            "--routes",
            ",".join(f"nats://{LOCALHOST}:{port}" for port in self.routes),
        ]

    @property
    def server_name(self) -> str:
        """The name JetStream reports for this server (stream and consumer leaders, peers)."""
        return f"attune-{self.port}"

    def healthy(self) -> bool:
        """The server's ``/healthz``: JetStream enabled and current with the cluster's meta leader."""
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class NatsCluster:
    """``size`` nats-servers in one cluster, data under ``data_dir``; clients take :attr:`url` (all
    members, comma-separated) and fail over between them. A member keeps its ports across
    kill / start, so it rejoins the cluster as itself."""

    def __init__(self, data_dir: Path, size: int = 3, name: str = "attune") -> None:
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            ClusterNode(Path(data_dir) / f"node-{i}", name, route_ports[i], route_ports) for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 60.0) -> None:
        """Start every member and wait until each is healthy (a JetStream meta leader is elected)."""
        for node in self.nodes:
            node.start(timeout)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until every running member reports healthy."""
        deadline = time.monotonic() + timeout
        while not all(node.healthy() for node in self.nodes if node.running):
            if time.monotonic() > deadline:
                sick = [node.server_name for node in self.nodes if node.running and not node.healthy()]
                raise EmbeddedServerError(f"NATS cluster members {sick} not healthy within {timeout:.0f} s")
            time.sleep(0.1)

    def node_named(self, server_name: str) -> ClusterNode:
        """The member JetStream knows as ``server_name``."""
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(f"no member of this cluster is named {server_name!r}")

    def kill(self) -> None:
        """SIGKILL every member."""
        for node in self.nodes:
            node.kill()
