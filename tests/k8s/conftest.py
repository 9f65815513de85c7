"""Fixtures for tests against a real kube-apiserver (see tests/k8s/README.md).

k8s_cluster     session: etcd + kube-apiserver + CRDs (Gateway API and deploy/crds/*.yaml)
k8s_namespace   function: a fresh, uniquely named namespace in that cluster

After each module, every Gateway it made is deleted: an Envoy that names no Gateway is served
the only Gateway there is, so one module's leftovers must not change what the next one sees.
"""

from __future__ import annotations

import atexit
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .apiserver import REPO_CRD_DIR, KubeCluster, MissingBinariesError

_CLUSTER = pytest.StashKey[KubeCluster]()


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest) -> Iterator[KubeCluster]:
    """etcd + kube-apiserver for the whole session, with every CRD installed."""
    with tempfile.TemporaryDirectory(prefix="xdscp-k8s-") as workdir:
        cluster = _new_cluster(Path(workdir))
        # atexit as well as the finalizer: a KeyboardInterrupt or an internal error
        # can end the session without running fixture teardown.
        atexit.register(cluster.stop)
        with cluster:
            cluster.start(crd_dirs=[REPO_CRD_DIR])
            request.config.stash[_CLUSTER] = cluster
            yield cluster
        atexit.unregister(cluster.stop)


def _new_cluster(workdir: Path) -> KubeCluster:
    try:
        return KubeCluster(workdir)
    except MissingBinariesError as error:
        message = str(error)
    # Not a skip: these tests are part of `make test` and must run. Failed outside the
    # `except` so the report shows the instruction alone, without a chained traceback.
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def _no_gateway_outlives_its_module(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    cluster = request.config.stash.get(_CLUSTER, None)
    if cluster is not None:
        deleted = cluster.kubectl("delete", "gateways.gateway.networking.k8s.io", "-A", "--all")
        assert deleted.returncode == 0, deleted.stderr


@pytest.fixture
def k8s_namespace(k8s_cluster: KubeCluster, request: pytest.FixtureRequest) -> str:
    """A new namespace per test, named after it. Nothing deletes it: no controller-manager
    runs to finish the deletion, and the whole etcd is thrown away after the session."""
    return k8s_cluster.create_namespace(request.node.name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attaches the tail of the server logs to the report of a failed test that used them."""
    report = yield
    cluster = item.config.stash.get(_CLUSTER, None)
    uses_cluster = "k8s_cluster" in getattr(item, "fixturenames", ())
    if report.failed and cluster is not None and uses_cluster:
        for name, tail in cluster.log_tails():
            report.sections.append((f"{name} log (tail)", tail))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    cluster = terminalreporter.config.stash.get(_CLUSTER, None)
    if cluster is not None and cluster.startup_seconds is not None:
        terminalreporter.write_line(
            f"k8s: etcd + kube-apiserver + CRDs started in {cluster.startup_seconds:.1f} s"
        )
