"""`make demo ARGS=--once`, as a user runs it: the guide's output from a live Envoy, exit 0."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.live import ROOT
from xdscp.demo import ADMIN_PORT, HTTPBIN_PORT, XDS_PORT

pytestmark = [pytest.mark.envoy, pytest.mark.process]

LISTENER_PORT = 8080


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_once_prints_the_guides_cluster_and_a_200() -> None:
    taken = [p for p in (LISTENER_PORT, XDS_PORT, HTTPBIN_PORT, ADMIN_PORT) if busy(p)]
    if taken:
        pytest.skip(f"the demo's fixed ports are in use here: {taken}")
    result = subprocess.run(
        [sys.executable, "-m", "xdscp", "demo", "--once", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "through Envoy -> HTTP 200" in out
    assert '"connect_timeout": "5s"' in out
    assert '"keepalive_probes": 3' in out and '"keepalive_time": 30' in out
    assert '"keepalive_interval": 5' in out
    assert "FAIL" not in out and "PASS kube_httpbin_httpbin_8000 connect_timeout: 5s" in out
