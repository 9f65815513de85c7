"""Kubernetes mode: an object whose Envoy resources Envoy refuses is held back and reported,
and every other change keeps reaching Envoy (the same mechanism as file mode:
tests/e2e/test_nack_confined.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from xdscp.demo.processes import Httpbin, http_get, wait_for

from .apiserver import KubeCluster
from .kmode import (
    GUIDE_KEEPALIVE,
    TIMEOUT,
    Live,
    apply,
    cluster_name,
    guide_namespace,
    guide_policy_text,
    keepalive,
    node_httpbin,
    serving_the_guide,
    wait_cluster,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.envoy, pytest.mark.process]
__all__ = ["node_httpbin"]  # a fixture this module uses


@pytest.fixture(scope="module")
def namespace(k8s_cluster: KubeCluster, node_httpbin: Httpbin) -> str:
    return guide_namespace(k8s_cluster, "kmode-nack", node_httpbin, with_gateway=True)


@pytest.fixture(scope="module")
def live(
    k8s_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("kmode-nack")
    with serving_the_guide(k8s_cluster, workdir, namespace) as live:
        yield live


def host_setter(namespace: str) -> dict[str, Any]:
    """Allowed by Gateway API (the API server admits it), refused by Envoy: setting Host."""
    modifier = {"set": [{"name": "Host", "value": "www.example.com"}]}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "host-setter", "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "http", "namespace": namespace}],
            "hostnames": ["setter.example.com"],
            "rules": [
                {
                    "filters": [
                        {"type": "RequestHeaderModifier", "requestHeaderModifier": modifier}
                    ],
                    "backendRefs": [{"name": "httpbin", "port": 8000}],
                }
            ],
        },
    }


def test_a_refused_route_is_held_and_reported_and_other_changes_flow(
    live: Live, namespace: str, k8s_cluster: KubeCluster
) -> None:
    wait_for(
        lambda: (s := live.xdscp.get_json("/status")["streams"]) and s[0]["types"]["rds"]["acked"],
        TIMEOUT,
        "Envoy to ACK routes",
    )
    apply(k8s_cluster, host_setter(namespace))

    def held() -> list[str] | None:
        problems: list[str] = live.xdscp.get_json("/policies")["problems"]
        return [p for p in problems if f"HTTPRoute {namespace}/host-setter" in p] or None

    (problem,) = wait_for(held, TIMEOUT, "the refused route to be reported")
    assert "Envoy refused the rds it translates to" in problem, problem
    assert http_get(live.xdscp.admin + "/readyz?exclude=stale")[0] == 200
    # An unrelated change reaches Envoy.
    apply(k8s_cluster, guide_policy_text(namespace).replace("Probes: 3", "Probes: 7"))
    wait_cluster(
        live.envoy,
        cluster_name(namespace),
        lambda c: keepalive(c) == {**GUIDE_KEEPALIVE, "keepalive_probes": 7},
        "the unrelated policy change",
    )
    rejected = live.envoy.stats("listener_manager.lds.update_rejected")
    assert rejected == {"listener_manager.lds.update_rejected": "0"}
