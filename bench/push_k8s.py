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

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client

from bench import fanout, fleet, gobuild, measure, push
from bench.push import Plan
from tests.gatewaylab import gateway_class
from tests.k8s.apiserver import REPO_CRD_DIR, KubeCluster
from tests.k8s.kmode import metric, start_xdscp
from tests.processes import Envoy, Xdscp, free_port
from xdscp.demo.processes import Process, http_get, wait_for
from xdscp.gatewaystatus import CONTROLLER
from xdscp.sources.kubernetes.kinds import POLICIES, WATCHED

IDENTITY = "xdscp-bench"  # the same for every run, so a new process takes the Lease at once
REQUEST_TIMEOUT = 10.0  # seconds, for one API call
CREATORS = 8  # threads creating the fleet
SETTLE = 1.0  # seconds without a status write before measuring
PATHS = {resource.kind: resource for resource in WATCHED}
WRITES = 'xdscp_status_writes_total{kind="BackendConfigPolicy",result="written"}'
THROTTLED = 'xdscp_status_writes_total{kind="BackendConfigPolicy",result="throttled"}'
FANOUT_CHANGED = 5  # the policy the fan-out changes
RESTARTS = 2  # API server restarts in turn: a lasting step in RSS shows by the second


def endpoint_address(i: int) -> str:
    return f"198.18.{i // 250}.{i % 250 + 1}"


def documents(n: int, listener_port: int) -> Iterator[fleet.Doc]:
    """The fleet as the API server accepts it: Services first, then what refers to them."""
    # The fleet's Gateway names class kgateway: declared xdscp's, as in the guide's files.
    docs = [gateway_class("kgateway", CONTROLLER), *fleet.documents(n, listener_port, {})]
    for doc in docs:
        if doc["kind"] == "Service":
            doc["spec"]["clusterIP"] = "None"
        elif doc["kind"] == "EndpointSlice":
            i = int(doc["metadata"]["name"].removeprefix("svc-"))
            doc["endpoints"][0]["addresses"] = [endpoint_address(i)]
    order = (
        "GatewayClass",
        "Service",
        "EndpointSlice",
        "BackendConfigPolicy",
        "Gateway",
        "HTTPRoute",
    )
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


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def _rss_mib(server: Xdscp) -> tuple[float, float]:
    """xdscp's resident set and its high-water mark, MiB."""
    rss, peak = measure.memory(server.popen.pid)
    return round(rss / 2**20, 1), round(peak / 2**20, 1)


def _cpu(server: Xdscp, apiserver: Process | None) -> dict[str, float]:
    out = {"xdscp": measure.cpu_seconds(server.popen.pid)}
    if apiserver is not None:
        out["kube-apiserver"] = measure.cpu_seconds(apiserver.popen.pid)
    return out


def _active_clusters(proxy: Envoy) -> int:
    try:
        stats = proxy.stats("cluster_manager.active_clusters")
    except OSError:  # Envoy's admin answers late while it adds thousands of clusters
        return 0
    return int(stats.get("cluster_manager.active_clusters", "0"))


def _keepalive_time(proxy: Envoy, i: int) -> int | None:
    """Service i's cluster's keepalive time as Envoy holds it (one cluster's config_dump)."""
    query = f"resource=dynamic_active_clusters&name_regex=^{fleet.cluster_name(i)}$"
    try:
        dump = json.loads(http_get(f"{proxy.admin}/config_dump?{query}")[1])
    except OSError:  # busy applying an update
        return None
    for config in dump.get("configs", []):
        cluster = config.get("cluster") or {}
        keepalive = (cluster.get("upstream_connection_options") or {}).get("tcp_keepalive") or {}
        if "keepalive_time" in keepalive:
            return int(keepalive["keepalive_time"])
    return None


def lifecycle(
    cluster: KubeCluster,
    server: Xdscp,
    plan: Plan,
    workdir: Path,
    started: float,
    change: push.Change,
    generation: dict[int, int],
    fanout_load: fanout.Load | None = None,
) -> dict[str, Any]:
    """A fresh xdscp on the loaded API server, with a live Envoy from the start: seconds to
    /readyz, to every cluster active in Envoy and to the initial status writes; RSS in sync;
    then API server restarts, each making every watch relist (resourceVersions expired); then,
    if asked, `fanout_load` streams on this replica (streams_per_replica)."""
    out: dict[str, Any] = {}
    with push.envoy(server.xds_port, plan.delta, workdir) as proxy:
        wait_for(lambda: http_get(server.admin + "/readyz")[0] == 200, 300, "/readyz")
        out["readyz_seconds"] = _since(started)
        ready_at = time.monotonic()
        apiserver = cluster.apiserver.process
        cpu = _cpu(server, apiserver)
        wait_for(lambda: _active_clusters(proxy) >= plan.n, 600, "every cluster active in Envoy")
        out["clusters_active_seconds"] = _since(started)
        wait_for(lambda: metric(server, WRITES) >= plan.n, 600, "the initial status writes")
        out["status_writes"] = {
            "count": metric(server, WRITES),
            "seconds_after_readyz": _since(ready_at),
            "throttled": metric(server, THROTTLED),
            # CPU seconds each spent from /readyz to the last write (Envoy's start-up too).
            "cpu_seconds": {k: round(v - cpu[k], 1) for k, v in _cpu(server, apiserver).items()},
        }
        wait_for(partial(_settled, server), 300, "status writes to settle")
        out["rss_in_sync_mib"] = _rss_mib(server)[0]
        out["api_server_restarts"] = [
            _restart(cluster, server, proxy, change, generation) for _ in range(RESTARTS)
        ]
    if fanout_load is not None:
        out["fanout"] = streams_per_replica(server, change, generation, fanout_load)
    return out


def _restart(
    cluster: KubeCluster,
    server: Xdscp,
    proxy: Envoy,
    change: push.Change,
    generation: dict[int, int],
) -> dict[str, Any]:
    """The API server restarted with every resourceVersion expired (so every watch relists);
    as soon as it is back, one policy is patched: seconds until Envoy applied it, and RSS once
    the relist settled."""
    i = 1
    measure.reset_peak(server.popen.pid)
    cluster.expire_resource_versions()
    back = time.monotonic()
    generation[i] = generation.get(i, 0) + 1
    change(i, generation[i])
    wanted = fleet.KEEPALIVE_TIME + generation[i]
    wait_for(lambda: _keepalive_time(proxy, i) == wanted, 120, "the patch applied by Envoy")
    applied = _since(back)
    wait_for(partial(_settled, server), 300, "status writes to settle")
    rss, peak = _rss_mib(server)
    return {"patch_applied_seconds": applied, "rss_after_relist_mib": rss, "peak_rss_mib": peak}


class KubernetesControl:
    """The load generator's control surface (fanout.Served) for `xdscp serve --kubernetes`:
    `POST /change?i=K` merge-patches policy K through the API server, `GET /stats` reads the
    xdscp process's CPU and memory from /proc."""

    def __init__(self, server: Xdscp, change: Callable[[int], object]) -> None:
        self.xds_port, self._pid = server.xds_port, server.popen.pid
        pid = self._pid

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rss, hwm = measure.memory(pid)
                self._reply(
                    {"rss_bytes": rss, "hwm_bytes": hwm, "cpu_seconds": measure.cpu_seconds(pid)}
                )

            def do_POST(self) -> None:
                change(int(parse_qs(urlsplit(self.path).query)["i"][0]))
                self._reply({"publish_seconds": None})

            def _reply(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.control = f"http://127.0.0.1:{self._httpd.server_port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def memory(self) -> tuple[int, int]:
        return measure.memory(self._pid)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def streams_per_replica(
    server: Xdscp, change: push.Change, generation: dict[int, int], load: fanout.Load
) -> dict[str, Any]:
    """The load generator's streams on this one replica: seconds until all are in sync, a
    policy patched until the last of them has it, and RSS per stream."""

    def patched(i: int) -> None:
        generation[i] = generation.get(i, 0) + 1
        change(i, generation[i])

    control = KubernetesControl(server, patched)
    try:
        return fanout.run(control, gobuild.binary("loadgen"), load, FANOUT_CHANGED)
    finally:
        control.close()


def through_kubernetes(
    plans: Iterable[Plan], workdir: Path, fanout_load: fanout.Load | None = None
) -> dict[Plan, dict[str, Any]]:
    """Each plan's figures; one API server per fleet size, the plans of a size in turn. The
    first plan of a size also measures start-up, the initial status writes, RSS and API
    server restarts (`lifecycle`)."""
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
            for k, plan in enumerate(sized):
                started = time.monotonic()
                server = start_xdscp(
                    cluster.kubeconfig,
                    where,
                    lease_namespace=fleet.NAMESPACE,
                    identity=IDENTITY,
                    namespaces=(fleet.NAMESPACE,),
                )
                try:
                    first = (
                        {}
                        if k
                        else lifecycle(
                            cluster, server, plan, where, started, change, generation, fanout_load
                        )
                    )
                    wait_for(partial(_settled, server), 120, "status writes to settle")
                    figures = push.through_serve(server, plan, where, change, generation)
                finally:
                    server.stop()
                out[plan] = {**figures, **first, **setup}
    return out


def main() -> None:
    """`python -m bench.push_k8s 1000 [10000 ...]`: this piece alone, JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="+", type=int, help="numbers of Services")
    parser.add_argument("--changes", type=int, default=50, help="measured changes per plan")
    parser.add_argument("--streams", type=int, default=0, help="also N delta streams at once")
    parser.add_argument("--keep", type=Path, help="work here and keep the logs (else a temp dir)")
    args = parser.parse_args()
    plans = [Plan(n, delta, args.changes) for n in args.sizes for delta in (False, True)]
    with tempfile.TemporaryDirectory(prefix="xdscp-bench-k8s-") as scratch:
        load = fanout.Load(args.streams, True, syncing=args.streams) if args.streams else None
        measured = through_kubernetes(plans, args.keep or Path(scratch), load)
    names = {plan: f"{'delta' if plan.delta else 'sotw'}@{plan.n}" for plan in plans}
    print(json.dumps({names[p]: figures for p, figures in measured.items()}, indent=2))


if __name__ == "__main__":
    main()
