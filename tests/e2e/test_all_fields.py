"""Every BackendConfigPolicy field at once, on a live Envoy, against a real TLS upstream.

The policy is the all-fields golden case's, aimed at the guide's httpbin Service, with TLS
pointed at certificates this test makes. The Service's endpoint is a TLS server in front of
httpbin (tests/e2e/tls_upstream.py) that demands what the policy makes Envoy send: a PROXY v2
header, TLS with SNI `localhost`, ALPN, and a client certificate from the test CA.

Shown: Envoy ACKs it (no NACK in xdscp's status, no CDS update rejected in Envoy's stats); the
live cluster carries every field the golden output has, each with the value `xdscp render`
gives for the same files (`xdscp verify`); health checks pass; and a request through Envoy
reaches httpbin over that TLS connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.certs import MtlsPaths, write_mtls
from tests.e2e.tls_upstream import TlsUpstream
from tests.live import CLUSTER, POLICY, Stack, point_endpoints
from xdscp.app import envoy_clusters, load, verify
from xdscp.demo.processes import Httpbin, NotReady, wait_for
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.snapshot import Snapshot
from xdscp.translate import Options, translate

pytestmark = [pytest.mark.envoy, pytest.mark.process]

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "backendconfigpolicy"
CLIENT = "envoy"  # the client certificate's common name
HEALTH_PATH = "/status/200"  # httpbin answers 200 to it, for HEAD too


def golden_policy() -> dict[str, Any]:
    documents = yaml.safe_load_all((GOLDEN / "all-fields.in.yaml").read_text())
    policy: dict[str, Any] = next(d for d in documents if d["kind"] == "BackendConfigPolicy")
    return policy


def golden_cluster() -> dict[str, Any]:
    (cluster,) = yaml.safe_load((GOLDEN / "all-fields.out.yaml").read_text())["clusters"]
    assert isinstance(cluster, dict)
    return cluster


def live_policy(certs: MtlsPaths) -> dict[str, Any]:
    """The golden policy on Service httpbin/httpbin, trusting this test's CA."""
    policy = golden_policy()
    spec = policy["spec"]
    policy["metadata"] = {"name": "everything", "namespace": "httpbin"}
    spec["targetRefs"] = [{"group": "", "kind": "Service", "name": "httpbin"}]
    client_cert, client_key = certs.clients[CLIENT]
    spec["tls"]["files"] = {
        "tlsCertificate": str(client_cert),
        "tlsKey": str(client_key),
        "rootCA": str(certs.ca_cert),
    }
    spec["tls"]["sni"] = "localhost"
    # Any one name must match: the certificate has the second.
    spec["tls"]["verifySubjectAltNames"] = ["backend.internal", "localhost"]
    spec["healthCheck"]["http"].update(path=HEALTH_PATH, host="localhost")
    return policy


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    """Every leaf of nested dicts and lists, as dotted paths with list indexes."""
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in leaf_paths(v, f"{prefix}.{k}")}
    if isinstance(value, list) and value:
        return {p for i, v in enumerate(value) for p in leaf_paths(v, f"{prefix}[{i}]")}
    return {prefix}


@pytest.fixture(params=["sotw", "delta"])
def everything(
    request: pytest.FixtureRequest,
    policies: tuple[Path, int],
    httpbin: Httpbin,
    tmp_path: Path,
) -> Iterator[tuple[Stack, TlsUpstream]]:
    """xdscp and Envoy serving the all-fields policy, httpbin behind the TLS upstream."""
    path, listener_port = policies
    certs = write_mtls(tmp_path / "pki", [CLIENT])
    with TlsUpstream(int(httpbin.url.rsplit(":", 1)[1]), certs) as upstream:
        point_endpoints(path, upstream.port)
        (path / POLICY).write_text(yaml.safe_dump(live_policy(certs)))
        live = Stack(path, tmp_path, listener_port, delta=request.param == "delta")
        try:
            live.start_xdscp()
            live.start_envoy()
            yield live, upstream
        finally:
            live.stop()


def cds_version(policies: Path) -> str:
    """The CDS version xdscp serves for these files (versions come from content alone)."""
    translation = translate(load((policies,)).resources, Options(listener_address="127.0.0.1"))
    return Snapshot.build(translation).versions[CDS]


def health_checked(stack: Stack) -> dict[str, str] | None:
    """Envoy's health check stats for the cluster, once one check has succeeded."""
    assert stack.envoy is not None
    stats = stack.envoy.stats(f"cluster.{CLUSTER}.health_check.")
    return stats if int(stats.get(f"cluster.{CLUSTER}.health_check.success", "0")) else None


def test_adapted_policy_still_sets_every_field_of_the_golden_case(tmp_path: Path) -> None:
    certs = write_mtls(tmp_path, [CLIENT])
    assert leaf_paths(live_policy(certs)["spec"]) == leaf_paths(golden_policy()["spec"])


def test_every_field_reaches_envoy_and_traffic_flows_over_tls(
    everything: tuple[Stack, TlsUpstream],
) -> None:
    stack, upstream = everything
    assert stack.xdscp is not None and stack.envoy is not None
    envoy, xdscp = stack.envoy, stack.xdscp

    # A request through Envoy reaches httpbin, over the TLS upstream.
    try:
        stack.wait_ok()
    except NotReady as error:
        pytest.fail(f"{error}\nTLS upstream refused: {upstream.refused}\nsaw: {upstream.seen()}")
    assert stack.get("/status/418") == 418  # httpbin answered, not Envoy

    # Acked, not NACKed, by this Envoy, and exactly the version these files give.
    want = cds_version(stack.policies)

    def acked() -> dict[str, Any] | None:
        streams = xdscp.get_json("/status")["streams"]
        stream = next((s for s in streams if s["node_id"] == "gateway-1"), None)
        cds = stream["types"].get("cds", {}) if stream else {}
        return cds if cds.get("acked") == want and not cds.get("in_flight") else None

    cds = wait_for(acked, 20, f"gateway-1 to ACK CDS version {want}")
    assert (cds["nacks"], cds["nacked"], cds["error"]) == (0, "", "")
    stats = stack.cds_stats()
    assert stats["cluster_manager.cds.update_rejected"] == "0", stats
    assert int(stats["cluster_manager.cds.update_success"]) >= 1, stats
    assert xdscp.get_json("/policies")["problems"] == []

    # Every field the golden output has is on the live cluster ...
    live = envoy_clusters(envoy.admin)[CLUSTER]
    assert leaf_paths(live) - {".name"} == leaf_paths(golden_cluster()) - {".name"}
    # ... with the value `xdscp render` gives for these files, and nothing else.
    checks = verify(envoy.admin, (stack.policies,))
    failed = [str(c) for c in checks if not c.ok]
    assert failed == [], "\n".join(failed)
    checked = {c.field.split(".")[0] for c in checks if c.cluster == CLUSTER}
    assert checked == set(golden_cluster()), "verify must have compared every field"

    # Health checks pass (HEAD /status/200 over the same PROXY v2 + TLS), the host stays healthy.
    health = wait_for(lambda: health_checked(stack), 20, "a successful health check")
    assert health[f"cluster.{CLUSTER}.health_check.failure"] == "0", health
    assert f"HEAD {HEALTH_PATH} HTTP/1.1" in upstream.request_lines()
    assert "GET /get HTTP/1.1" in upstream.request_lines()

    # What the upstream saw on the wire is what the policy asks for.
    assert upstream.refused == []
    seen = upstream.seen()
    assert seen
    for connection in seen:
        assert connection.proxy_version == 2
        assert connection.sni == "localhost"
        assert connection.alpn == "http/1.1"  # Envoy offered it (alpnProtocols: [h2, http/1.1])
        assert connection.client_common_name == CLIENT
        assert connection.tls_version in ("TLSv1.2", "TLSv1.3")
