"""A real etcd + kube-apiserver for tests, run the way controller-runtime's envtest runs them.

No controller-manager, scheduler or kubelet runs: namespaces never finish terminating,
nothing is garbage-collected and no EndpointSlices appear by themselves. What the API
server does itself is real: CRD schemas and CEL rules, strict field validation, RBAC,
watch bookmarks and `410 Gone`.

This module has no pytest dependency; `conftest.py` turns it into fixtures.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.certs import CertPaths, write_certs
from tests.processes import free_port
from xdscp.demo.processes import Process, http_get, wait_for

BUILD_DIR = Path(__file__).resolve().parent / "build"
REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_CRD_DIR = REPO_ROOT / "deploy" / "crds"
BINARY_NAMES = ("kube-apiserver", "kubectl", "etcd")

# Generous: a loaded 2-core CI machine starts kube-apiserver in 5-15 s.
START_TIMEOUT = 90.0


class ClusterError(RuntimeError):
    """The test cluster could not be started or did not behave."""


class MissingBinariesError(ClusterError):
    """kube-apiserver, kubectl, etcd or the Gateway API CRDs have not been built/fetched."""


# --- Where the binaries are -------------------------------------------------------------


def pinned_versions() -> dict[str, str]:
    """The versions pinned in build/versions.sh, so Python and the build never disagree."""
    text = (BUILD_DIR / "versions.sh").read_text()
    return dict(re.findall(r"^([A-Z0-9_]+_VERSION)=(v[0-9][\w.]*)$", text, re.MULTILINE))


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xdscp" / "k8s"


@dataclass(frozen=True)
class Binaries:
    """The three executables and the directory of Gateway API CRD manifests."""

    kube_apiserver: Path
    kubectl: Path
    etcd: Path
    gateway_api_crds: Path


def locate_binaries() -> Binaries:
    """Finds what `make k8s` built: XDSCP_K8S_BIN, else the versioned cache dir."""
    versions = pinned_versions()
    k8s, etcd, gateway = (
        versions["K8S_VERSION"],
        versions["ETCD_VERSION"],
        versions["GATEWAY_API_VERSION"],
    )
    bin_dir = Path(
        os.environ.get("XDSCP_K8S_BIN")
        or cache_root() / f"{k8s}-etcd{etcd.removeprefix('v')}" / "bin"
    )
    crd_dir = Path(
        os.environ.get("XDSCP_GATEWAY_API_CRDS") or cache_root() / f"gateway-api-{gateway}"
    )
    missing = [str(bin_dir / n) for n in BINARY_NAMES if not os.access(bin_dir / n, os.X_OK)]
    if not any(crd_dir.glob("*.yaml")):
        missing.append(f"{crd_dir}/*.yaml")
    if missing:
        raise MissingBinariesError(
            f"Kubernetes test binaries missing: {', '.join(missing)}. "
            "Run `make k8s` (builds kube-apiserver, kubectl and etcd once; minutes when cold) "
            "or point XDSCP_K8S_BIN at a directory holding all three."
        )
    return Binaries(bin_dir / "kube-apiserver", bin_dir / "kubectl", bin_dir / "etcd", crd_dir)


def wait_until(what: str, check: Callable[[], bool], process: Process) -> None:
    """Poll `check` until it is true; fail early, with its log, if `process` dies."""

    def ready() -> bool:
        process.check_alive()
        return check()

    wait_for(ready, START_TIMEOUT, what)


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """(status, body); (0, b"") while nothing answers yet."""
    try:
        return http_get(url, context=context)
    except OSError:
        return 0, b""


# --- etcd -------------------------------------------------------------------------------


class Etcd:
    """A single-member etcd with its data in a temp dir; fast and not durable on purpose."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.workdir = workdir
        self.client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        self.argv = [
            str(binary),
            "--name=xdscp-test",
            f"--data-dir={workdir / 'etcd-data'}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=xdscp-test={peer_url}",
            # Tests never need durability; fsync dominates etcd latency on CI disks.
            "--unsafe-no-fsync=true",
            f"--quota-backend-bytes={2 * 1024**3}",
            "--log-level=warn",
        ]
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process("etcd", self.argv, self.workdir)
        wait_until("etcd /health", self._healthy, self.process)

    def _healthy(self) -> bool:
        status, body = _get(f"{self.client_url}/health")
        return status == 200 and json.loads(body).get("health") == "true"

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        # etcd's gRPC gateway: JSON over HTTP, keys base64-encoded, int64 as strings.
        request = urllib.request.Request(f"{self.client_url}{path}", json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=5) as response:
            result: dict[str, Any] = json.load(response)
        return result

    def revision(self) -> int:
        reply = self._post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
        return int(reply["header"]["revision"])

    def compact(self) -> int:
        """Discards the history before the current revision; returns that revision."""
        revision = self.revision()
        self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision


# --- kube-apiserver ---------------------------------------------------------------------


class KubeApiServer:
    """kube-apiserver on 127.0.0.1, serving with throwaway certs; restartable on the same etcd."""

    def __init__(
        self, binary: Path, workdir: Path, certs: CertPaths, etcd_url: str, *, port: int
    ) -> None:
        self.url = f"https://127.0.0.1:{port}"
        self._ssl = ssl.create_default_context(cafile=str(certs.ca_cert))
        self._ssl.load_cert_chain(str(certs.admin_cert), str(certs.admin_key))
        self.workdir = workdir
        self.argv = [
            str(binary),
            f"--etcd-servers={etcd_url}",
            # Explicit addresses: with no default route the server cannot pick one itself.
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={workdir / 'apiserver-certs'}",
            f"--tls-cert-file={certs.serving_cert}",
            f"--tls-private-key-file={certs.serving_key}",
            f"--client-ca-file={certs.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={certs.service_account_pub}",
            f"--service-account-signing-key-file={certs.service_account_key}",
            "--service-cluster-ip-range=10.96.0.0/24",
            # No controller-manager creates ServiceAccount tokens, so the admission
            # plugin that requires them would reject every Pod.
            "--disable-admission-plugins=ServiceAccount",
            # Nothing serves the Endpoints it would write for `kubernetes` at 127.0.0.1.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            # Open watches otherwise hold a stop for the fixture's whole 15 s timeout.
            "--shutdown-watch-termination-grace-period=2s",
        ]
        self.process: Process | None = None

    def start(self) -> None:
        """Start it, or start it again after `stop` (same port, certs and etcd)."""
        if self.process is None:
            self.process = Process("kube-apiserver", self.argv, self.workdir)
        else:
            self.process.restart()
        process = self.process
        wait_until("kube-apiserver /readyz", lambda: self._status("/readyz") == 200, process)
        # /readyz can pass a moment before the bootstrap controller has written `default`.
        wait_until(
            "namespace default",
            lambda: self._status("/api/v1/namespaces/default") == 200,
            process,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def get(self, path: str) -> tuple[int, bytes]:
        """GET as the admin user."""
        return _get(f"{self.url}{path}", self._ssl)

    def _status(self, path: str) -> int:
        return self.get(path)[0]


# --- The cluster tests see --------------------------------------------------------------


def crd_files(directories: Iterable[Path]) -> list[Path]:
    return [path for directory in directories for path in sorted(directory.glob("*.yaml"))]


class KubeCluster:
    """etcd + kube-apiserver + an admin kubeconfig, plus helpers to break things on purpose.

    Start with `start()` (or use as a context manager); `stop()` kills every process
    this object started and is safe to call more than once.
    """

    def __init__(self, workdir: Path, binaries: Binaries | None = None) -> None:
        self.workdir = workdir
        self.binaries = binaries or locate_binaries()
        self.certs = write_certs(workdir / "pki")
        self.etcd = Etcd(self.binaries.etcd, workdir)
        self.apiserver = KubeApiServer(
            self.binaries.kube_apiserver,
            workdir,
            self.certs,
            self.etcd.client_url,
            port=free_port(),
        )
        self.kubeconfig = workdir / "kubeconfig"
        self.startup_seconds: float | None = None

    # Lifecycle

    def start(self, crd_dirs: Iterable[Path] = ()) -> None:
        """Starts etcd and kube-apiserver, writes the kubeconfig, installs the CRDs."""
        started = time.monotonic()
        try:
            self.etcd.start()
            self.apiserver.start()
            self._write_kubeconfig()
            self.install_crds(crd_files([self.binaries.gateway_api_crds, *crd_dirs]))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        for server in (self.apiserver, self.etcd):
            if server.process is not None:
                server.process.stop()

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.apiserver.url

    def _write_kubeconfig(self) -> None:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "xdscp-test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.certs.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(self.certs.admin_cert),
                        "client-key": str(self.certs.admin_key),
                    },
                }
            ],
            "contexts": [
                {"name": "xdscp-test", "context": {"cluster": "xdscp-test", "user": "admin"}}
            ],
            "current-context": "xdscp-test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    # Clients

    def configuration(self) -> client.Configuration:
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.certs.ca_cert)
        configuration.cert_file = str(self.certs.admin_cert)
        configuration.key_file = str(self.certs.admin_key)
        return configuration

    def api_client(self) -> client.ApiClient:
        """An official-client ApiClient authenticated as cluster admin (system:masters)."""
        return client.ApiClient(self.configuration())

    def impersonating(self, sa_namespace: str, sa_name: str) -> client.ApiClient:
        """An ApiClient acting as ServiceAccount NS/NAME (the server adds its groups).

        The admin certificate is in system:masters, which may impersonate anyone.
        """
        return client.ApiClient(
            self.configuration(),
            header_name="Impersonate-User",
            header_value=f"system:serviceaccount:{sa_namespace}:{sa_name}",
        )

    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Runs the built kubectl as admin; never raises on a non-zero exit: check returncode."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # Discovery cache per cluster: ports are reused across runs with different CRDs.
            "KUBECACHEDIR": str(self.workdir / "kubectl-cache"),
        }
        return subprocess.run(
            [str(self.binaries.kubectl), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    # Setup helpers

    def create_namespace(self, prefix: str = "test") -> str:
        """Creates a namespace with a unique name. Nothing deletes namespaces for real here."""
        stem = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:48] or "test"
        name = f"{stem}-{secrets.token_hex(3)}"
        client.CoreV1Api(self.api_client()).create_namespace({"metadata": {"name": name}})
        return name

    def install_crds(self, files: list[Path]) -> None:
        """Creates CRDs and waits until each is Established and listed by discovery.

        `kubectl create`, not client-side apply: the HTTPRoute CRD is larger than the
        last-applied-configuration annotation may be.
        """
        if not files:
            return
        created = self.kubectl("create", "--output=name", *(f"--filename={f}" for f in files))
        if created.returncode != 0:
            raise ClusterError(f"creating CRDs failed:\n{created.stderr}")
        names = created.stdout.split()  # customresourcedefinition.apiextensions.k8s.io/NAME
        established = self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
        if established.returncode != 0:
            raise ClusterError(f"CRDs not Established:\n{established.stderr}")
        fetched = self.kubectl("get", "--output=json", *names)
        if fetched.returncode != 0:
            raise ClusterError(f"reading CRDs back failed:\n{fetched.stderr}")
        crds = _objects(json.loads(fetched.stdout))
        for crd in crds:
            self._wait_for_discovery(crd["spec"])

    def _wait_for_discovery(self, spec: Mapping[str, Any]) -> None:
        group, plural = spec["group"], spec["names"]["plural"]
        for version in (v["name"] for v in spec["versions"] if v.get("served")):
            path = f"/apis/{group}/{version}"

            def listed(path: str = path) -> bool:
                status, body = self.apiserver.get(path)
                return status == 200 and any(
                    r["name"] == plural for r in json.loads(body).get("resources", [])
                )

            assert self.apiserver.process is not None
            wait_until(f"discovery of {plural} in {path}", listed, self.apiserver.process)

    # Faults

    def stop_apiserver(self) -> None:
        """An API server outage begins: clients see connection refused. etcd keeps the data."""
        self.apiserver.stop()

    def start_apiserver(self) -> None:
        """The outage ends: same port, certs and etcd; returns once ready."""
        self.apiserver.start()

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def expire_resource_versions(self) -> None:
        """Makes every resourceVersion seen so far too old: watching from one gets 410 Gone.

        A watch is normally served from kube-apiserver's watch cache, which keeps events
        in memory however much etcd compacts, so compaction alone is not enough. Two
        things together make it certain, whichever path the server takes:
          * a write bumps the etcd revision, and etcd is compacted to it, so a watch
            served from etcd is told "required revision has been compacted";
          * kube-apiserver restarts, so its watch cache begins at that revision and
            answers "too old resource version" for anything before.
        Costs one API server restart (a few seconds).
        """
        core = client.CoreV1Api(self.api_client())
        marker = f"expire-{secrets.token_hex(3)}"
        core.create_namespaced_config_map("default", {"metadata": {"name": marker}})
        core.delete_namespaced_config_map(marker, "default")
        self.etcd.compact()
        self.restart_apiserver()

    # Diagnostics

    def log_tails(self, lines: int = 60) -> Iterator[tuple[str, str]]:
        """(process name, last lines of its log) for every server process."""
        for server in (self.apiserver, self.etcd):
            if server.process is not None:
                yield server.process.name, server.process.log_tail(lines)


def _objects(created: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`kubectl get -o json` prints one object, or a List when given several."""
    if created.get("kind") == "List":
        items: list[dict[str, Any]] = created["items"]
        return items
    return [dict(created)]
