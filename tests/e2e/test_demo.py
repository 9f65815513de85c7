"""`make demo ARGS=--once`, as a user runs it: the guide's output from a live Envoy, exit 0;
with ports of its own when the defaults are taken, and a plain error naming a taken port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.live import ROOT, copy_policies
from tests.processes import free_port
from xdscp.demo import ADMIN_PORT, XDS_PORT, XDSCP_ADMIN_PORT

pytestmark = [pytest.mark.envoy, pytest.mark.process]

LISTENER_PORT = 8080
HTTPBIN_PORT = 18080  # policies/httpbin-endpoints.yaml


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def demo(root: Path, *flags: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdscp", "demo", "--once", "--root", str(root), *flags],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def assert_the_guides_output(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "through Envoy -> HTTP 200" in out
    assert '"connect_timeout": "5s"' in out
    assert '"keepalive_probes": 3' in out and '"keepalive_time": 30' in out
    assert '"keepalive_interval": 5' in out
    assert "FAIL" not in out and "PASS kube_httpbin_httpbin_8000 connect_timeout: 5s" in out


def test_demo_once_prints_the_guides_cluster_and_a_200() -> None:
    ports = (LISTENER_PORT, XDS_PORT, HTTPBIN_PORT, ADMIN_PORT, XDSCP_ADMIN_PORT)
    taken = [p for p in ports if busy(p)]
    if taken:
        pytest.skip(f"the demo's fixed ports are in use here: {taken}")
    result = demo(ROOT)
    assert_the_guides_output(result)
    # xdscp's admin is on serve's default port, so `xdscp status` needs no flag.
    assert f"admin on http://127.0.0.1:{XDSCP_ADMIN_PORT}: .venv/bin/xdscp status)" in result.stdout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout whose policies/ put httpbin and the Gateway listener on free ports."""
    copy_policies(tmp_path / "policies", free_port(), free_port())
    shutil.copytree(ROOT / "envoy", tmp_path / "envoy")
    return tmp_path


def test_every_port_of_the_demo_can_be_changed(root: Path) -> None:
    xds, admin, envoy_admin = free_port(), free_port(), free_port()
    result = demo(
        root,
        *("--xds-port", str(xds), "--admin-port", str(admin)),
        *("--envoy-admin-port", str(envoy_admin)),
    )
    assert_the_guides_output(result)
    assert (
        f"xDS on 127.0.0.1:{xds}, admin on http://127.0.0.1:{admin}: "
        f".venv/bin/xdscp status --admin http://127.0.0.1:{admin})"
    ) in result.stdout
    assert f"admin on http://127.0.0.1:{envoy_admin})" in result.stdout
    # Envoy logs only warnings and errors: a bind failure would not hide under info lines.
    envoy_log = (root / ".demo" / "envoy.log").read_text()
    assert "][info][" not in envoy_log and "][debug][" not in envoy_log


def test_the_demo_runs_from_the_checkout_as_make_demo_runs_it(root: Path) -> None:
    """`make demo` runs in the checkout with the default root "." (relative paths all through,
    while xdscp and Envoy run in .demo/)."""
    ports = (str(free_port()), str(free_port()), str(free_port()))
    flags = ("--xds-port", ports[0], "--admin-port", ports[1], "--envoy-admin-port", ports[2])
    assert_the_guides_output(demo(Path("."), *flags, cwd=root))


def test_port_zero_means_any_free_port(root: Path) -> None:
    """As for `xdscp serve --admin-port 0`: Envoy is pointed at the ports actually taken."""
    assert_the_guides_output(
        demo(root, "--xds-port", "0", "--admin-port", "0", "--envoy-admin-port", "0")
    )


def test_a_taken_port_is_named_before_anything_starts(root: Path) -> None:
    gateway, _ = yaml.safe_load_all((root / "policies" / "gateway.yaml").read_text())
    listener_port = gateway["spec"]["listeners"][0]["port"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", listener_port))
        holder.listen()
        result = demo(root, "--xds-port", "0", "--admin-port", "0", "--envoy-admin-port", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"xdscp demo: cannot listen for Envoy's Gateway listener (in {root / 'policies'}) "
        f"on 127.0.0.1:{listener_port}: address already in use "
        "(is a demo running already, or another program?)"
    ]
    assert result.stdout == "" and not (root / ".demo").exists()
