"""A snapshot per node group, cut from one translation: each Gateway's proxies get its own
listeners and routes and the clusters they route to, shared resources are serialized once,
and a change wakes only the groups it changes."""

from __future__ import annotations

import copy
import functools
from typing import Any

from envoy.config.core.v3 import base_pb2

from xdscp.cache import SnapshotCache
from xdscp.groups import INVALID, UNNAMED, NodeGroup, identify
from xdscp.metrics import Metrics
from xdscp.model.load import Document, load
from xdscp.model.resources import Resources
from xdscp.pipeline import Pipeline
from xdscp.resourcetypes import CLUSTER, ENDPOINT, LISTENER, ROUTE
from xdscp.sources import Update
from xdscp.translate import Options

PUBLIC, INTERNAL = "gateway/infra/public", "gateway/infra/internal"


def gateway(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "infra"},
        "spec": {
            "listeners": [
                {
                    "name": "http",
                    "port": 8080,
                    "protocol": "HTTP",
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                }
            ]
        },
    }


def route(name: str, parent: str, *services: str, path: str = "/") -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "parentRefs": [{"name": parent, "namespace": "infra"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                    "backendRefs": [{"name": s, "port": 80} for s in services],
                }
            ],
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }


def policy(service: str, probes: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": f"{service}-keepalive", "namespace": "apps"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "tcpKeepalive": {"keepAliveProbes": probes},
        },
    }


WORLD = [
    gateway("public"),
    gateway("internal"),
    route("site", "public", "httpbin"),
    route("tools", "internal", "httpbin", "admin"),
    service("httpbin"),
    service("admin"),
    service("unrouted"),
    policy("httpbin", 3),
    policy("admin", 3),
]


def update(objects: list[dict[str, Any]]) -> Update:
    loaded = load([Document("test.yaml", copy.deepcopy(o)) for o in objects], {})
    assert not loaded.problems, loaded.problems
    return Update(Resources.of(loaded.objects.values()), ())


class Woken:
    def __init__(self, cache: SnapshotCache, *groups: str) -> None:
        self.counts = dict.fromkeys(groups, 0)
        for group in groups:
            cache.watch(group, functools.partial(self._wake, group))

    def _wake(self, group: str) -> None:
        self.counts[group] += 1

    def take(self) -> set[str]:
        woken = {g for g, n in self.counts.items() if n}
        self.counts = dict.fromkeys(self.counts, 0)
        return woken


def served() -> tuple[Pipeline, SnapshotCache]:
    cache = SnapshotCache()
    pipeline = Pipeline(cache, Metrics(), Options())
    assert pipeline.apply(update(WORLD)) is not None
    return pipeline, cache


def names(cache: SnapshotCache, group: str, type_url: str) -> set[str]:
    snapshot = cache.get(group)
    assert snapshot is not None
    return set(snapshot.resources[type_url])


def test_each_gateway_gets_its_listeners_routes_and_the_clusters_they_use() -> None:
    _, cache = served()
    assert names(cache, PUBLIC, LISTENER) == names(cache, PUBLIC, ROUTE) == {"infra/public/http"}
    assert (
        names(cache, PUBLIC, CLUSTER) == names(cache, PUBLIC, ENDPOINT) == {"kube_apps_httpbin_80"}
    )
    assert names(cache, INTERNAL, LISTENER) == {"infra/internal/http"}
    assert names(cache, INTERNAL, CLUSTER) == {"kube_apps_httpbin_80", "kube_apps_admin_80"}


def test_two_gateways_may_listen_on_the_same_port() -> None:
    pipeline, cache = served()
    assert pipeline.served is not None and pipeline.served.findings.problems == ()
    assert cache.get(PUBLIC) is not None and cache.get(INTERNAL) is not None


def test_a_resource_shared_by_groups_is_serialized_once() -> None:
    _, cache = served()
    public, internal = cache.get(PUBLIC), cache.get(INTERNAL)
    assert public is not None and internal is not None
    name = "kube_apps_httpbin_80"
    assert public.resources[CLUSTER][name] is internal.resources[CLUSTER][name]
    assert public.resources[CLUSTER][name].delta is internal.resources[CLUSTER][name].delta


def test_a_route_change_wakes_only_its_gateways_group() -> None:
    pipeline, cache = served()
    woken = Woken(cache, PUBLIC, INTERNAL, UNNAMED)
    before = cache.get(INTERNAL)
    world = [o for o in WORLD if o["metadata"]["name"] != "site"]
    pipeline.apply(update([*world, route("site", "public", "httpbin", path="/v2")]))
    assert woken.take() == {PUBLIC}
    assert cache.get(INTERNAL) is before  # the very same snapshot, responses and all


def test_a_policy_change_wakes_only_the_groups_using_its_cluster() -> None:
    pipeline, cache = served()
    woken = Woken(cache, PUBLIC, INTERNAL, UNNAMED)
    world = [o for o in WORLD if o["metadata"]["name"] != "admin-keepalive"]
    pipeline.apply(update([*world, policy("admin", 7)]))
    assert woken.take() == {INTERNAL, UNNAMED}  # the unnamed group has every cluster
    world = [o for o in WORLD if o["metadata"]["name"] != "httpbin-keepalive"]
    pipeline.apply(update([*world, policy("httpbin", 7)]))
    assert woken.take() == {PUBLIC, INTERNAL, UNNAMED}


def test_the_unnamed_group_gets_every_cluster_and_the_only_gateway() -> None:
    pipeline, cache = served()
    assert names(cache, UNNAMED, LISTENER) == set()  # two Gateways: which one is not guessed
    assert "kube_apps_unrouted_80" in names(cache, UNNAMED, CLUSTER)
    assert "names no Gateway, and there are 2" in cache.explain(NodeGroup(UNNAMED))
    now = pipeline.apply(update([o for o in WORLD if o["metadata"]["name"] != "internal"]))
    assert names(cache, UNNAMED, LISTENER) == {"infra/public/http"}
    assert now is not None
    assert cache.get(UNNAMED) is now.snapshot  # everything: the whole snapshot itself
    assert cache.explain(NodeGroup(UNNAMED)) == ""


def test_another_controllers_gateway_does_not_count_for_the_unnamed_group() -> None:
    pipeline, cache = served()
    theirs = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "theirs"},
        "spec": {"controllerName": "example.com/other"},
    }
    world = [
        {**o, "spec": {**o["spec"], "gatewayClassName": "theirs"}}
        if o["metadata"]["name"] == "internal"
        else o
        for o in WORLD
    ]
    assert pipeline.apply(update([theirs, *world])) is not None
    assert names(cache, UNNAMED, LISTENER) == {"infra/public/http"}
    assert cache.explain(NodeGroup(UNNAMED)) == ""


def test_a_missing_gateway_gets_an_empty_config_until_it_appears() -> None:
    pipeline, cache = served()
    node = base_pb2.Node(id="envoy-9")
    node.metadata.update({"role": "kgateway-kube-gateway-api~infra~later"})
    group = identify(node)
    woken = Woken(cache, group.key)
    empty = cache.get(group.key)
    assert empty is not None
    assert all(not empty.resources[t] for t in (CLUSTER, ENDPOINT, LISTENER, ROUTE))
    assert "Gateway infra/later does not exist" in cache.explain(group)
    pipeline.apply(update([*WORLD, gateway("later"), route("late", "later", "admin")]))
    assert woken.take() == {group.key}
    assert names(cache, group.key, LISTENER) == {"infra/later/http"}
    assert cache.explain(group) == ""


def test_unreadable_metadata_gets_an_empty_config_and_says_why() -> None:
    _, cache = served()
    node = base_pb2.Node(id="envoy-9")
    node.metadata.update({"role": "public"})
    group = identify(node)
    assert group.key == INVALID
    snapshot = cache.get(INVALID)
    assert snapshot is not None and not snapshot.resources[LISTENER]
    assert "is not <owner>~<namespace>~<name>: serving an empty configuration" in cache.explain(
        group
    )
