"""Item 3 through Kubernetes: a BackendConfigPolicy merge-patched on a real API server until a
live Envoy ACKs the new cluster version.

The real etcd + kube-apiserver of tests/k8s (`KubeCluster`, built by `make k8s`) holds the
fleet of bench/fleet.py in namespace `bench`; the real `xdscp serve --kubernetes` watches it
and serves Envoy (the shipped bootstrap, SotW or delta). Each change sets one policy's
keepAliveTime with a JSON merge patch; the time counts from the API call returning (the
object is stored and its watch event on its way) to xdscp's /status showing Envoy's ACK of
the next CDS version, polled as for the file path (push.through_serve, cross-checked with
Envoy's `cluster_manager.cds.version_text`). One API server serves every variant of a size.

Two changes to the fleet's documents, both required by the API server: EndpointSlices name
198.18.0.0/15 addresses (RFC 2544's benchmark range; the API server refuses loopback ones,
and no traffic is sent), and Services are headless (the test cluster's Service IP range has
254 addresses).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client

from bench import fleet, push
from bench.push import Plan
from tests.k8s.apiserver import REPO_CRD_DIR, KubeCluster
from tests.k8s.kmode import metric, start_xdscp
from tests.processes import Xdscp, free_port
from xdscp.demo.processes import wait_for
from xdscp.sources.kubernetes.kinds import POLICIES, WATCHED

IDENTITY = "xdscp-bench"  # the same for every run, so a new process takes the Lease at once
REQUEST_TIMEOUT = 10.0  # seconds, for one API call
CREATORS = 8  # threads creating the fleet
SETTLE = 1.0  # seconds without a status write before measuring
PATHS = {resource.kind: resource for resource in WATCHED}
WRITES = 'xdscp_status_writes_total{result="written"}'


def endpoint_address(i: int) -> str:
    return f"198.18.{i // 250}.{i % 250 + 1}"


def documents(n: int, listener_port: int) -> Iterator[fleet.Doc]:
    """The fleet as the API server accepts it: Services first, then what refers to them."""
    docs = list(fleet.documents(n, listener_port, {}))
    for doc in docs:
        if doc["kind"] == "Service":
            doc["spec"]["clusterIP"] = "None"
        elif doc["kind"] == "EndpointSlice":
            i = int(doc["metadata"]["name"].removeprefix("svc-"))
            doc["endpoints"][0]["addresses"] = [endpoint_address(i)]
    order = ("Service", "EndpointSlice", "BackendConfigPolicy", "Gateway", "HTTPRoute")
    yield from sorted(docs, key=lambda doc: order.index(doc["kind"]))


def _call(api: client.ApiClient, method: str, path: str, body: Any, content_type: str) -> None:
    """One request, its answer read; raises unless it succeeded."""
    response = api.call_api(
        method,
        api.configuration.host + path,
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        _request_timeout=REQUEST_TIMEOUT,
    )
    answer = response.read()  # the whole answer, so the call has returned
    if not 200 <= response.status < 300:
        raise RuntimeError(f"{method} {path}: {response.status} {answer[:300]!r}")


def create(api: client.ApiClient, docs: Iterable[fleet.Doc]) -> None:
    """Creates the objects, a kind at a time (in order), CREATORS requests at once."""
    batches: dict[str, list[fleet.Doc]] = {}
    for doc in docs:
        batches.setdefault(doc["kind"], []).append(doc)
    with ThreadPoolExecutor(CREATORS) as pool:
        for kind, batch in batches.items():
            path = PATHS[kind].path(fleet.NAMESPACE)
            post = partial(_call, api, "POST", path, content_type="application/json")
            list(pool.map(post, batch))  # re-raises the first failure


def patch_policy(api: client.ApiClient, i: int, generation: int) -> int:
    """Policy i's keepAliveTime set by a merge patch; returns when the call returned (ns)."""
    path = POLICIES.path(fleet.NAMESPACE, fleet.policy_doc(i)["metadata"]["name"])
    seconds = fleet.KEEPALIVE_TIME + generation
    body = {"spec": {"tcpKeepalive": {"keepAliveTime": f"{seconds}s"}}}
    _call(api, "PATCH", path, body, "application/merge-patch+json")
    return time.time_ns()


@contextmanager
def loaded(n: int, workdir: Path) -> Iterator[tuple[KubeCluster, dict[str, Any]]]:
    """etcd + kube-apiserver holding the fleet; stopped on the way out, whatever happens."""
    cluster = KubeCluster(workdir)
    with cluster:
        started = time.monotonic()
        cluster.start(crd_dirs=[REPO_CRD_DIR])
        api = cluster.api_client()
        setup = {"start_seconds": round(time.monotonic() - started, 1)}
        started = time.monotonic()
        client.CoreV1Api(api).create_namespace({"metadata": {"name": fleet.NAMESPACE}})
        create(api, documents(n, free_port()))
        setup["create_seconds"] = round(time.monotonic() - started, 1)
        setup["objects"] = 3 * n + 2
        yield cluster, setup


def _settled(server: Xdscp) -> bool:
    """Leading, and no status written for SETTLE seconds (the first run writes n of them)."""
    if metric(server, "xdscp_leader") != 1:
        return False
    before = metric(server, WRITES)
    time.sleep(SETTLE)
    return metric(server, WRITES) == before


def through_kubernetes(plans: Iterable[Plan], workdir: Path) -> dict[Plan, dict[str, Any]]:
    """Each plan's figures; one API server per fleet size, the plans of a size in turn."""
    out: dict[Plan, dict[str, Any]] = {}
    by_size: dict[int, list[Plan]] = {}
    for plan in plans:
        by_size.setdefault(plan.n, []).append(plan)
    for n, sized in by_size.items():
        where = workdir / f"kubernetes-{n}"
        where.mkdir(parents=True, exist_ok=True)
        with loaded(n, where) as (cluster, setup):
            generation: dict[int, int] = {}
            change = partial(patch_policy, cluster.api_client())
            for plan in sized:
                server = start_xdscp(
                    cluster.kubeconfig,
                    where,
                    lease_namespace=fleet.NAMESPACE,
                    identity=IDENTITY,
                    namespaces=(fleet.NAMESPACE,),
                )
                try:
                    wait_for(partial(_settled, server), 120, "status writes to settle")
                    figures = push.through_serve(server, plan, where, change, generation)
                finally:
                    server.stop()
                out[plan] = {**figures, **setup}
    return out
