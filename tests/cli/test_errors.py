"""Everyday mistakes get one line naming the problem and a documented exit code, never a
traceback; and a mistake never passes as success."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.run import one_line_error, xdscp
from tests.live import ROOT

pytestmark = pytest.mark.process

POLICIES = ROOT / "policies"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens (bound, never listening, so nobody takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("verb", ["validate", "render", "verify"])
def test_a_typoed_path_is_an_error_not_an_empty_input(verb: str, tmp_path: Path) -> None:
    result = xdscp(verb, POLICIES, tmp_path / "polices")
    line = one_line_error(result)
    assert line == f"xdscp {verb}: {tmp_path / 'polices'}: no such file or directory"
    assert "all valid" not in result.stdout and "clusters" not in result.stdout


def test_a_directory_without_yaml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a manifest\n")
    line = one_line_error(xdscp("validate", tmp_path))
    assert f"{tmp_path}: no .yaml, .yml, .json files" in line


@pytest.mark.parametrize(
    ("verb", "what"), [("verify", "Envoy's admin"), ("status", "xdscp's admin")]
)
def test_nothing_listening_on_the_admin_url(verb: str, what: str, refused_port: int) -> None:
    paths = [POLICIES] if verb == "verify" else []
    result = xdscp(verb, "--admin", f"http://127.0.0.1:{refused_port}", *paths)
    line = one_line_error(result)
    assert line.startswith(f"xdscp {verb}: cannot reach {what}")
    assert f"127.0.0.1:{refused_port}" in line and "Connection refused" in line


def test_an_admin_address_without_scheme_means_http(refused_port: int) -> None:
    line = one_line_error(xdscp("status", "--admin", f"127.0.0.1:{refused_port}"))
    assert f"at http://127.0.0.1:{refused_port}/status" in line


def test_an_admin_url_of_another_scheme_is_a_usage_error() -> None:
    line = one_line_error(xdscp("status", "--admin", "ftp://127.0.0.1:9901"))
    assert "argument --admin: expected an http:// URL" in line


def test_an_xds_address_without_host_is_a_usage_error() -> None:
    line = one_line_error(xdscp("serve", POLICIES, "--xds-address", "28000"))
    assert "--xds-address: expected HOST:PORT such as 0.0.0.0:18000, not '28000'" in line


def test_demo_outside_a_checkout_changes_nothing(tmp_path: Path) -> None:
    line = one_line_error(xdscp("demo", "--once", cwd=tmp_path))
    assert "policies and envoy/bootstrap.yaml not found" in line and "--root" in line
    assert list(tmp_path.iterdir()) == []  # no .demo/ left behind


def test_serve_needs_paths_or_kubernetes() -> None:
    line = one_line_error(xdscp("serve"))
    assert "give YAML files or directories, or --kubernetes" in line


def test_help_shows_defaults_and_exit_codes() -> None:
    result = xdscp("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "(default: 0.0.0.0:18000)" in text and "(default: 9901)" in text
    assert "--max-message-bytes" in text and "(default: 64 MiB)" in text
    assert "1 invalid input" in text and "2 usage or environment error" in text


def test_verify_and_status_help_say_whose_admin_url() -> None:
    verify = " ".join(xdscp("verify", "--help").stdout.split())
    status = " ".join(xdscp("status", "--help").stdout.split())
    assert "Envoy's admin URL" in verify and "(default: http://127.0.0.1:19000)" in verify
    assert "xdscp's admin URL" in status and "(default: http://127.0.0.1:9901)" in status


def test_version() -> None:
    result = xdscp("--version")
    assert result.returncode == 0 and result.stdout.startswith("xdscp 0.")
