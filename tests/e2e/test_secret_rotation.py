"""Upstream mutual TLS from a Secret over SDS, against a TLS upstream that demands a client
certificate (tests/e2e/tls_upstream.py), on a live Envoy over SotW and delta xDS.

Shown: a request through Envoy gets its 200 with the Secret's client certificate on the wire;
rotating the Secret (a new CA and client certificate, the upstream switched to the new CA)
makes new connections present the new certificate while Envoy's CDS update count and the
cluster's version stay where they were; deleting the Secret keeps the last good one served and
says so on the policy; the private key shows nowhere in xdscp's views, metrics or log.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.certs import MtlsPaths, write_mtls
from tests.e2e.tls_upstream import TlsUpstream, answered_as
from tests.files import replace_yaml
from tests.live import CLUSTER, POLICY, Stack, cluster_version, point_endpoints
from xdscp.app import verify
from xdscp.demo.processes import Httpbin, http_get, wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.process]

SECRET_FILE = "upstream-client-secret.yaml"
SECRET_NAME = "httpbin/upstream-client"  # the SDS name of its certificate and key


def secret(certs: MtlsPaths, client: str) -> dict[str, Any]:
    cert, key = certs.clients[client]
    data = {"tls.crt": cert, "tls.key": key, "ca.crt": certs.ca_cert}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "upstream-client", "namespace": "httpbin"},
        "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(p.read_bytes()).decode() for k, p in data.items()},
    }


def policy() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.kgateway.dev/v1alpha1",
        "kind": "BackendConfigPolicy",
        "metadata": {"name": "httpbin-mtls", "namespace": "httpbin"},
        "spec": {
            "targetRefs": [{"group": "", "kind": "Service", "name": "httpbin"}],
            "tls": {
                "secretRef": {"name": "upstream-client"},
                "sni": "localhost",
                "verifySubjectAltNames": ["localhost"],
            },
        },
    }


@pytest.fixture(params=["sotw", "delta"])
def mtls(
    request: pytest.FixtureRequest,
    policies: tuple[Path, int],
    httpbin: Httpbin,
    tmp_path: Path,
) -> Iterator[tuple[Stack, TlsUpstream, MtlsPaths, MtlsPaths]]:
    path, listener_port = policies
    old = write_mtls(tmp_path / "old", ["envoy-old"])
    new = write_mtls(tmp_path / "new", ["envoy-new"])
    with TlsUpstream(int(httpbin.url.rsplit(":", 1)[1]), old, proxy_protocol=False) as upstream:
        point_endpoints(path, upstream.port)
        (path / POLICY).write_text(yaml.safe_dump(policy()))
        replace_yaml(path / SECRET_FILE, secret(old, "envoy-old"))
        live = Stack(path, tmp_path, listener_port, delta=request.param == "delta")
        try:
            live.start_xdscp()
            live.start_envoy()
            yield live, upstream, old, new
        finally:
            live.stop()


def policy_messages(stack: Stack) -> list[str]:
    assert stack.xdscp is not None
    statuses = stack.xdscp.get_json("/policies")["policies"]
    return [
        condition["message"]
        for status in statuses
        if status["policy"] == "httpbin/httpbin-mtls"
        for ancestor in status["ancestors"]
        for condition in ancestor["conditions"]
        if condition["type"] == "Accepted"
    ]


def test_secret_rotation_touches_no_cluster(
    mtls: tuple[Stack, TlsUpstream, MtlsPaths, MtlsPaths],
) -> None:
    stack, upstream, old, new = mtls
    assert stack.xdscp is not None and stack.envoy is not None

    # The Secret's client certificate is what the upstream saw.
    wait_for(lambda: answered_as(stack.listener, upstream, "envoy-old"), 30, "a 200 with envoy-old")
    assert policy_messages(stack) == ["policy is valid"]
    sds = f"sds.{SECRET_NAME}.version_text"
    before = {
        "sds": stack.envoy.stats(sds)[sds],
        "cds": stack.cds_stats()["cluster_manager.cds.update_success"],
        "cluster": cluster_version(stack.envoy, CLUSTER),
        "xdscp": stack.xdscp.get_json("/status")["versions"],
    }

    # Rotation: the upstream trusts only the new CA now, and the Secret holds the new pair.
    upstream.rotate(new)
    replace_yaml(stack.policies / SECRET_FILE, secret(new, "envoy-new"))
    wait_for(
        lambda: stack.envoy is not None and stack.envoy.stats(sds)[sds] != before["sds"],
        30,
        "Envoy to take the rotated Secret",
    )
    # The connection made before carries on (it drains naturally) ...
    assert answered_as(stack.listener, upstream, "envoy-old")
    # ... and a new one presents the new certificate.
    upstream.drop()
    wait_for(lambda: answered_as(stack.listener, upstream, "envoy-new"), 30, "a 200 with envoy-new")
    assert not [
        c for c in upstream.seen() if c.client_common_name not in ("envoy-old", "envoy-new")
    ]
    after = stack.xdscp.get_json("/status")["versions"]
    assert after["sds"] != before["xdscp"]["sds"]
    assert after["cds"] == before["xdscp"]["cds"]
    assert stack.cds_stats()["cluster_manager.cds.update_success"] == before["cds"]
    assert cluster_version(stack.envoy, CLUSTER) == before["cluster"]
    assert policy_messages(stack) == ["policy is valid"]
    # `xdscp verify` finds Envoy's cluster and secrets as the files say, its keys redacted.
    checks = verify(stack.envoy.admin, (stack.policies,))
    assert [str(c) for c in checks if not c.ok] == []
    assert {c.cluster for c in checks} == {CLUSTER, SECRET_NAME, f"{SECRET_NAME}/ca.crt"}
    assert any(c.field.endswith("private_key.inline_bytes") for c in checks)

    # Deleting the Secret keeps its last good version served, and the policy says so.
    (stack.policies / SECRET_FILE).unlink()
    wait_for(
        lambda: any("not found" in m for m in policy_messages(stack)) or None,
        30,
        "the missing Secret reported on the policy",
    )
    (message,) = policy_messages(stack)
    assert "Secret httpbin/upstream-client not found" in message, message
    assert "Envoy keeps its last good version" in message, message
    upstream.drop()
    wait_for(
        lambda: answered_as(stack.listener, upstream, "envoy-new"), 30, "a 200 with envoy-new again"
    )
    assert stack.cds_stats()["cluster_manager.cds.update_success"] == before["cds"]

    # The private keys show nowhere: not in xdscp's views, its metrics or its log.
    key_lines = {
        line
        for certs, client in ((old, "envoy-old"), (new, "envoy-new"))
        for line in certs.clients[client][1].read_text().splitlines()[1:-1]
    }
    _, metrics = http_get(f"{stack.xdscp.admin}/metrics")
    shown = [
        str(stack.xdscp.get_json("/status")),
        str(stack.xdscp.get_json("/policies")),
        metrics.decode(),
        stack.xdscp.log_path.read_text(),
    ]
    assert not [line for line in key_lines for text in shown if line in text]
    # Envoy shows the key as redacted in its own config_dump.
    assert not [line for line in key_lines if line in str(stack.envoy.config_dump())]
