"""`xdscp serve` refuses what would quietly go wrong: a port another process holds (xDS or
admin), and TLS flags that would fall back to plain text; its startup line says which it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.run import one_line_error, xdscp
from tests.live import ROOT
from tests.processes import Xdscp, free_port

pytestmark = pytest.mark.process

POLICIES = ROOT / "policies"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Xdscp]:
    server = Xdscp([POLICIES], tmp_path, xds_port=free_port())
    try:
        yield server
    finally:
        server.stop()


def test_a_second_serve_on_the_same_xds_port_fails(running: Xdscp) -> None:
    result = xdscp(
        "serve", POLICIES, "--xds-address", f"127.0.0.1:{running.xds_port}", "--admin-port", "0"
    )
    line = one_line_error(result)
    assert line == (
        f"xdscp serve: cannot listen for xDS on 127.0.0.1:{running.xds_port}: "
        "address already in use (is another xdscp running?)"
    )
    assert running.alive()


def test_a_taken_admin_port_fails_without_noise(running: Xdscp) -> None:
    result = xdscp(
        "serve", POLICIES, "--xds-address", "127.0.0.1:0", "--admin-port", str(running.admin_port)
    )
    line = one_line_error(result)
    assert line == (
        f"xdscp serve: cannot listen for the admin endpoint on 127.0.0.1:{running.admin_port}: "
        "address already in use (is another xdscp running?)"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert", "server.crt"], "--tls-cert and --tls-key go together"),
        (["--tls-key", "server.key"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "ca.crt"], "--tls-client-ca needs --tls-cert and --tls-key"),
        (
            ["--tls-cert", "nope.crt", "--tls-key", "server.key"],
            "--tls-cert nope.crt: no such file",
        ),
        (
            ["--tls-cert", "server.crt", "--tls-key", "gateway-1.key"],
            "--tls-cert server.crt and --tls-key gateway-1.key: not a PEM certificate and its "
            "private key",
        ),
        (
            ["--tls-cert", "server.crt", "--tls-key", "server.key", "--tls-client-ca", "ca.key"],
            "--tls-client-ca ca.key: not PEM certificates",
        ),
    ],
)
def test_incomplete_tls_flags_are_refused(flags: list[str], message: str, tmp_path: Path) -> None:
    assert xdscp("certs", tmp_path).returncode == 0
    result = xdscp("serve", POLICIES, "--xds-address", "127.0.0.1:0", *flags, cwd=tmp_path)
    assert message in one_line_error(result)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], "(plaintext)"),
        (["--tls-cert", "server.crt", "--tls-key", "server.key"], "(TLS)"),
        (
            ["--tls-cert", "server.crt", "--tls-key", "server.key", "--tls-client-ca", "ca.crt"],
            "(mTLS, client certificates required)",
        ),
    ],
)
def test_the_startup_line_says_how_xds_is_served(
    flags: list[str], said: str, tmp_path: Path
) -> None:
    assert xdscp("certs", tmp_path).returncode == 0
    server = Xdscp(
        [POLICIES], tmp_path, extra=[str(tmp_path / f) if "." in f else f for f in flags]
    )
    try:
        assert f"serving xDS on port {server.xds_port} {said}" in server.log_path.read_text()
    finally:
        server.stop()


def test_certs_refuses_to_overwrite(tmp_path: Path) -> None:
    first = xdscp("certs", tmp_path)
    assert first.returncode == 0 and "server.crt" in first.stdout
    assert "already holds ca.crt" in one_line_error(xdscp("certs", tmp_path))


def test_kubernetes_mode_without_a_kubeconfig_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "kubeconfig"
    result = xdscp(
        *("serve", "--kubernetes", "--kubeconfig", missing),
        *("--xds-address", "127.0.0.1:0", "--admin-port", "0"),
    )
    line = one_line_error(result)
    assert line.startswith(
        f"xdscp serve: no Kubernetes configuration: not in a cluster, and --kubeconfig {missing}: "
    )


@pytest.mark.parametrize(
    ("flags", "what"),
    [
        (["--xds-address", "nowhere.invalid:0", "--admin-port", "0"], "xDS on nowhere.invalid:0"),
        (
            ["--xds-address", "127.0.0.1:0", "--admin-host", "nowhere.invalid"],
            "the admin endpoint on nowhere.invalid:9901",
        ),
    ],
)
def test_a_host_that_does_not_resolve_is_one_line(flags: list[str], what: str) -> None:
    line = one_line_error(xdscp("serve", POLICIES, *flags))
    assert line.startswith(f"xdscp serve: cannot listen for {what}: ")


def test_verify_pointed_at_xdscps_admin_says_whose_admin_it_wants(running: Xdscp) -> None:
    line = one_line_error(xdscp("verify", "--admin", running.admin, POLICIES))
    assert line == (
        f"xdscp verify: {running.admin}/config_dump?include_eds: HTTP 404 Not Found: "
        "is this Envoy's admin (verify --admin)?"
    )
