"""xDS over TLS and mutual TLS: with mTLS, a client certificate may only ask for its own node."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from tests.certs import MtlsPaths
from tests.cli.run import xdscp
from tests.live import ROOT
from tests.processes import Envoy, Xdscp
from tests.server.harness import snapshot
from xdscp.cache import SnapshotCache
from xdscp.demo.processes import bootstrap, wait_for
from xdscp.metrics import Metrics
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.resourcetypes import ENDPOINT as EDS
from xdscp.server.ads import AdsServicer, start_server
from xdscp.server.auth import TlsConfig
from xdscp.server.fleet import Fleet
from xdscp.server.stream import Request

pytestmark = pytest.mark.process  # `xdscp certs`, as a user runs it


@pytest.fixture
def certs(tmp_path: Path) -> MtlsPaths:
    """What `xdscp certs` makes, as a user runs it: the shipped bootstraps must take them."""
    tls = tmp_path / "tls"
    result = xdscp("certs", tls, "--client", "gateway-1", "--client", "intruder")
    assert result.returncode == 0, result.stderr
    clients = {n: (tls / f"{n}.crt", tls / f"{n}.key") for n in ("gateway-1", "intruder")}
    return MtlsPaths(
        tls / "ca.crt", tls / "ca.key", tls / "server.crt", tls / "server.key", clients
    )


def as_node(request: Request, node_id: str) -> Request:
    request.node.CopyFrom(base_pb2.Node(id=node_id, cluster="kgateway-system.http"))
    return request


async def outcome(
    certs: MtlsPaths, client: str, requests: list[Request], delta: bool = False
) -> tuple[grpc.StatusCode | str, Metrics]:
    """Send `requests` with `client`'s certificate: the status code the stream ended with, or
    the version of the last response; and the server's metrics."""
    metrics = Metrics()
    tls = TlsConfig(certs.server_cert, certs.server_key, certs.ca_cert)
    cache = SnapshotCache()
    cache.set(snapshot({"a": 1}))
    server, port = await start_server(AdsServicer(cache, Fleet(), metrics), "127.0.0.1:0", tls=tls)
    cert, key = certs.clients[client]
    credentials = grpc.ssl_channel_credentials(
        certs.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    try:
        async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            call = stub.DeltaAggregatedResources() if delta else stub.StreamAggregatedResources()
            version = ""
            try:
                for request in requests:
                    await call.write(request)
                    response = await asyncio.wait_for(call.read(), 10)
                    version = response.system_version_info if delta else response.version_info
            except grpc.aio.AioRpcError as err:
                return err.code(), metrics
            return str(version), metrics
    finally:
        await server.stop(grace=None)


def first_response(certs: MtlsPaths, client: str, node_id: str) -> grpc.StatusCode | str:
    """Ask for CDS as `node_id` with `client`'s certificate: the status code or the version."""
    request = as_node(discovery_pb2.DiscoveryRequest(type_url=CDS), node_id)
    result, metrics = asyncio.run(outcome(certs, client, [request]))
    if isinstance(result, grpc.StatusCode):
        assert metrics.rejected.labels("permission_denied")._value.get() == 1
    return result


def test_certificate_for_its_own_node_is_served(certs: MtlsPaths) -> None:
    result = first_response(certs, "gateway-1", "gateway-1")
    assert result == snapshot({"a": 1}).versions[CDS]


def test_certificate_asking_for_another_node_is_refused(certs: MtlsPaths) -> None:
    result = first_response(certs, "intruder", "gateway-1")
    assert result == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_every_request_is_checked_not_only_the_first(certs: MtlsPaths, delta: bool) -> None:
    """Opened as its own node, then speaking for another: the stream ends there."""
    make = discovery_pb2.DeltaDiscoveryRequest if delta else discovery_pb2.DiscoveryRequest
    requests = [as_node(make(type_url=CDS), "gateway-1"), as_node(make(type_url=EDS), "other")]
    result, metrics = asyncio.run(outcome(certs, "gateway-1", requests, delta))
    assert result == grpc.StatusCode.PERMISSION_DENIED
    assert metrics.rejected.labels("permission_denied")._value.get() == 1
    # The same requests as the certificate's own node all along are served.
    names = {"resource_names_subscribe" if delta else "resource_names": ["a"]}
    requests[1] = as_node(make(type_url=EDS, **names), "gateway-1")
    served, _ = asyncio.run(outcome(certs, "gateway-1", requests, delta))
    assert served == snapshot({"a": 1}).versions[EDS]


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_a_certificate_is_served_only_its_nodes_group(certs: MtlsPaths, delta: bool) -> None:
    """Its own node throughout, but naming another Gateway after the first request: the
    certificate was checked for the node and the group it opened in, so the stream ends."""
    make = discovery_pb2.DeltaDiscoveryRequest if delta else discovery_pb2.DiscoveryRequest
    first = as_node(make(type_url=CDS), "gateway-1")
    first.node.metadata.update({"role": "kgateway-kube-gateway-api~infra~public"})
    second = as_node(make(type_url=EDS), "gateway-1")
    second.node.metadata.update({"role": "kgateway-kube-gateway-api~infra~internal"})
    result, metrics = asyncio.run(outcome(certs, "gateway-1", [first, second], delta))
    assert result == grpc.StatusCode.PERMISSION_DENIED
    assert metrics.rejected.labels("group_changed")._value.get() == 1


@pytest.fixture(params=["bootstrap-tls.yaml", "bootstrap-mtls.yaml"])
def tls_envoy(
    request: pytest.FixtureRequest, tmp_path: Path, certs: MtlsPaths, policies: tuple[Path, int]
) -> Iterator[Envoy]:
    """xdscp over TLS (mutual with bootstrap-mtls.yaml) and an Envoy from the shipped bootstrap."""
    mutual = request.param == "bootstrap-mtls.yaml"
    client_ca = ["--tls-client-ca", str(certs.ca_cert)] if mutual else []
    server = Xdscp(
        [policies[0]],
        tmp_path,
        extra=[
            "--tls-cert",
            str(certs.server_cert),
            "--tls-key",
            str(certs.server_key),
            *client_ca,
        ],
    )
    envoy: Envoy | None = None
    try:
        config = bootstrap(ROOT / "envoy" / request.param, server.xds_port)
        tls = config["static_resources"]["clusters"][0]["transport_socket"]["typed_config"]
        common = tls["common_tls_context"]
        common["validation_context"]["trusted_ca"]["filename"] = str(certs.ca_cert)
        if mutual:
            cert, key = certs.clients["gateway-1"]
            common["tls_certificates"][0]["certificate_chain"]["filename"] = str(cert)
            common["tls_certificates"][0]["private_key"]["filename"] = str(key)
        else:
            assert "tls_certificates" not in common
        envoy = Envoy(config, tmp_path)
        yield envoy
    finally:
        if envoy is not None:
            envoy.stop()
        server.stop()


@pytest.mark.envoy
def test_live_envoy_gets_its_clusters_over_tls(tls_envoy: Envoy) -> None:
    clusters = wait_for(lambda: tls_envoy.dynamic_clusters() or None, 20, "clusters over TLS")
    assert "kube_httpbin_httpbin_8000" in clusters
