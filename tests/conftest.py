"""Fixtures shared by the suites: real httpbin, xdscp and Envoy processes, always stopped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import Stack, copy_policies
from tests.processes import free_port
from xdscp.demo.processes import Httpbin

# The markers that say what a test starts (registered in pyproject.toml).
STARTS = ("envoy", "apiserver", "netns", "containers", "process")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/**/*.out.yaml from the translator (then read the diff)",
    )
    parser.addoption(
        "--fast",
        action="store_true",
        help=f"only tests that start no process (none of: {', '.join(STARTS)}); `make check`",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    starting = [i for i in items if any(i.get_closest_marker(m) for m in STARTS)]
    if starting:
        config.hook.pytest_deselected(items=starting)
        items[:] = [i for i in items if i not in set(starting)]


class _Unmarked(subprocess.Popen):  # type: ignore[type-arg]
    def __init__(self, args: Any, *_: Any, **__: Any) -> None:
        raise AssertionError(
            f"this test starts a process ({args!r}): mark it with what it starts,"
            f" one of {', '.join(STARTS)} (see pyproject.toml)"
        )


def pytest_configure(config: pytest.Config) -> None:
    """Under --fast, a test (or fixture) that starts a process fails: its marker is missing."""
    if config.getoption("--fast"):
        subprocess.Popen = _Unmarked  # type: ignore[misc]


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
