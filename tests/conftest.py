"""Fixtures shared by the suites: real httpbin, xdscp and Envoy processes, always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Stack, copy_policies
from xdscp.processes import Httpbin, free_port


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/**/*.out.yaml from the translator (then read the diff)",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def httpbin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Httpbin]:
    server = Httpbin(tmp_path_factory.mktemp("httpbin"), free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def policies(tmp_path: Path, httpbin: Httpbin) -> tuple[Path, int]:
    """A copy of policies/ aimed at the session's httpbin, and the Gateway listener's port."""
    listener_port = free_port()
    port = int(httpbin.url.rsplit(":", 1)[1])
    return copy_policies(tmp_path / "policies", port, listener_port), listener_port


@pytest.fixture(params=["sotw", "delta"])
def stack(
    request: pytest.FixtureRequest, policies: tuple[Path, int], tmp_path: Path
) -> Iterator[Stack]:
    """xdscp and Envoy running the guide, over state-of-the-world and over delta xDS."""
    path, listener_port = policies
    live = Stack(path, tmp_path, listener_port, delta=request.param == "delta")
    try:
        live.start_xdscp()
        live.start_envoy()
        yield live
    finally:
        live.stop()
