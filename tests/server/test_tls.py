"""xDS over TLS and mutual TLS: with mTLS, a client certificate may only ask for its own node."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from tests.certs import MtlsPaths, write_mtls
from tests.live import ROOT
from tests.server.harness import snapshot
from xdscp.cache import SnapshotCache
from xdscp.processes import Envoy, Xdscp, bootstrap, wait_for
from xdscp.resourcetypes import CLUSTER as CDS
from xdscp.server.ads import AdsServicer, start_server
from xdscp.server.auth import TlsConfig
from xdscp.server.fleet import Fleet
from xdscp.server.metrics import Metrics


@pytest.fixture
def certs(tmp_path: Path) -> MtlsPaths:
    return write_mtls(tmp_path / "tls", ["gateway-1", "intruder"])


async def first_response(certs: MtlsPaths, client: str, node_id: str) -> grpc.StatusCode | str:
    """Ask for CDS as `node_id` with `client`'s certificate: the status code or the version."""
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
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            request = discovery_pb2.DiscoveryRequest(type_url=CDS)
            request.node.CopyFrom(base_pb2.Node(id=node_id, cluster="kgateway-system.http"))
            await call.write(request)
            try:
                response = await asyncio.wait_for(call.read(), 10)
            except grpc.aio.AioRpcError as err:
                assert metrics.rejected.labels("permission_denied")._value.get() == 1
                return err.code()
            return str(response.version_info)
    finally:
        await server.stop(grace=None)


def test_certificate_for_its_own_node_is_served(certs: MtlsPaths) -> None:
    result = asyncio.run(first_response(certs, "gateway-1", "gateway-1"))
    assert result == snapshot({"a": 1}).versions[CDS]


def test_certificate_asking_for_another_node_is_refused(certs: MtlsPaths) -> None:
    result = asyncio.run(first_response(certs, "intruder", "gateway-1"))
    assert result == grpc.StatusCode.PERMISSION_DENIED


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


def test_live_envoy_gets_its_clusters_over_tls(tls_envoy: Envoy) -> None:
    clusters = wait_for(lambda: tls_envoy.dynamic_clusters() or None, 20, "clusters over TLS")
    assert "kube_httpbin_httpbin_8000" in clusters
