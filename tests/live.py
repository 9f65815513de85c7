"""A live stack for tests: httpbin, xdscp serving a copy of policies/, and a real Envoy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.files import replace
from tests.processes import Envoy, Xdscp
from xdscp.demo.processes import bootstrap, http_get, wait_for

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = "kube_httpbin_httpbin_8000"
HOST = "www.example.com"
POLICY = "httpbin-keepalive.yaml"


def point_endpoints(policies: Path, port: int) -> None:
    """The httpbin Service's endpoints, in a copy of policies/, moved to `port`."""
    endpoints = policies / "httpbin-endpoints.yaml"
    slice_ = yaml.safe_load(endpoints.read_text())
    slice_["ports"][0]["port"] = port
    endpoints.write_text(yaml.safe_dump(slice_))


def copy_policies(target: Path, httpbin_port: int, listener_port: int) -> Path:
    """policies/ as shipped, with the demo's fixed ports swapped for this test's own."""
    shutil.copytree(ROOT / "policies", target)
    point_endpoints(target, httpbin_port)
    gateway_file = target / "gateway.yaml"
    gateway, route = yaml.safe_load_all(gateway_file.read_text())
    gateway["spec"]["listeners"][0]["port"] = listener_port
    gateway_file.write_text(yaml.safe_dump_all([gateway, route]))
    return target


def cluster_version(envoy: Envoy, name: str) -> str:
    """The version Envoy took cluster `name` at (config_dump's version_info)."""
    for section in envoy.config_dump()["configs"]:
        if section["@type"].endswith("ClustersConfigDump"):
            for entry in section.get("dynamic_active_clusters", []):
                if entry["cluster"]["name"] == name:
                    return str(entry["version_info"])
    raise AssertionError(f"{name} is not active in Envoy")


class Stack:
    """xdscp and Envoy as processes, with what a user would look at."""

    def __init__(self, policies: Path, workdir: Path, listener_port: int, delta: bool) -> None:
        self.policies, self.workdir, self.delta = policies, workdir, delta
        self.listener = f"http://127.0.0.1:{listener_port}"
        self.xdscp: Xdscp | None = None
        self.envoy: Envoy | None = None

    def start_xdscp(self, xds_port: int = 0, paths: list[Path] | None = None) -> Xdscp:
        """Serve `paths` (relative ones from the work directory), by default the policies."""
        self.xdscp = Xdscp(paths or [self.policies], self.workdir, xds_port=xds_port)
        return self.xdscp

    def start_envoy(self) -> Envoy:
        assert self.xdscp is not None
        config = bootstrap(ROOT / "envoy" / "bootstrap.yaml", self.xdscp.xds_port, delta=self.delta)
        self.envoy = Envoy(config, self.workdir)
        return self.envoy

    def stop(self) -> None:
        for process in (self.envoy, self.xdscp):
            if process is not None:
                process.stop()

    def cluster(self) -> dict[str, Any] | None:
        assert self.envoy is not None
        return self.envoy.dynamic_clusters().get(CLUSTER)

    def wait_cluster(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        def matching() -> dict[str, Any] | None:
            cluster = self.cluster()
            return cluster if cluster is not None and check(cluster) else None

        return wait_for(matching, 20, what)

    def get(self, path: str = "/get") -> int:
        status, _ = http_get(self.listener + path, headers={"Host": HOST})
        return status

    def wait_ok(self) -> int:
        def ok() -> int | None:
            try:
                return 200 if self.get() == 200 else None
            except OSError:
                return None

        return wait_for(ok, 20, "a 200 through Envoy")

    def write_policy(self, text: str) -> None:
        replace(self.policies / POLICY, text)

    def policy_text(self) -> str:
        return (ROOT / "policies" / POLICY).read_text()

    def cds_stats(self) -> dict[str, str]:
        assert self.envoy is not None
        return self.envoy.stats("cluster_manager.cds.")
