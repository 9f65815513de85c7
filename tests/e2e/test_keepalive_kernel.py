"""tcpKeepalive as the kernel applies it, and what it buys when the peer vanishes (issue 7).

Two network namespaces joined by a veth pair, both ends inside them (the root namespace is not
touched): xdscp and Envoy run in one, two httpbins (gunicorn, keeping connections open) in the
other. The `keepalive` Service has a BackendConfigPolicy with tcpKeepalive (time 2s, interval
1s, 2 probes); the `nokeepalive` Service, on the second httpbin, has none.

test_upstream_socket_has_the_policys_keepalive
    Envoy's upstream socket carries SO_KEEPALIVE with the policy's values (read from the
    kernel through pidfd_getfd) and a keepalive timer in `ss`; the other has neither.
test_dead_peer_is_detected_only_with_keepalive
    httpbin's veth end goes down under idle pooled connections, so no FIN or RST ever comes.
    With the policy Envoy drops the connection within time + probes x interval (4 s) plus
    slack; without it the connection stays established for the whole window. After the link
    comes back the next request succeeds, on a new connection for the keepalive cluster.

Needs root and iproute2 (`ip netns`, `ss`); skips with the reason otherwise. The measured
times are printed and written to /tmp/keepalive-notes.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import netns
from tests.e2e.netns import KeepaliveOptions, Namespace, TcpSocket
from tests.processes import Envoy, log_tails, wait_routed, workdir
from xdscp.demo.processes import Process, bootstrap, http_get, httpbin_argv, wait_for

pytestmark = [pytest.mark.envoy, pytest.mark.netns, pytest.mark.process]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "envoy" / "bootstrap.yaml"
NOTES = Path("/tmp/keepalive-notes.md")

# The policy under test, and what it promises: a silent peer is dropped after at most
# TIME + PROBES * INTERVAL seconds of silence.
PROBES, TIME, INTERVAL = 2, 2, 1
PROMISED = TIME + PROBES * INTERVAL
DETECT_DEADLINE = 10.0  # the promise plus generous slack for a loaded CI machine
STAYS_WINDOW = 10.0  # how long the connection without keepalive must stay established

ENVOY_ADDR, HTTPBIN_ADDR, PREFIX = "10.213.0.1", "10.213.0.2", 30
LISTENER_PORT = 8080
KEEPALIVE_PORT, PLAIN_PORT = 8000, 8001  # the two httpbins, on HTTPBIN_ADDR
KEEPALIVE_HOST, PLAIN_HOST = "keepalive.example.com", "nokeepalive.example.com"
KEEPALIVE_CLUSTER, PLAIN_CLUSTER = "kube_httpbin_httpbin_8000", "kube_httpbin_nokeepalive_8000"

POLICIES = f"""\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: http, namespace: kgateway-system}}
spec:
  gatewayClassName: kgateway
  listeners:
  - name: http
    protocol: HTTP
    port: {LISTENER_PORT}
    allowedRoutes: {{namespaces: {{from: All}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: httpbin, namespace: httpbin, labels: {{app: httpbin}}}}
spec:
  selector: {{app: httpbin}}
  ports: [{{name: http, port: 8000, targetPort: {KEEPALIVE_PORT}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: httpbin-1
  namespace: httpbin
  labels: {{kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{{name: http, port: {KEEPALIVE_PORT}, protocol: TCP}}]
endpoints: [{{addresses: ["{HTTPBIN_ADDR}"], conditions: {{ready: true}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: httpbin, namespace: httpbin}}
spec:
  parentRefs: [{{name: http, namespace: kgateway-system}}]
  hostnames: ["{KEEPALIVE_HOST}"]
  rules: [{{backendRefs: [{{name: httpbin, port: 8000}}]}}]
---
kind: BackendConfigPolicy
apiVersion: gateway.kgateway.dev/v1alpha1
metadata: {{name: httpbin-keepalive, namespace: httpbin}}
spec:
  targetRefs: [{{name: httpbin, group: "", kind: Service}}]
  tcpKeepalive:
    keepAliveProbes: {PROBES}
    keepAliveTime: {TIME}s
    keepAliveInterval: {INTERVAL}s
---
apiVersion: v1
kind: Service
metadata: {{name: nokeepalive, namespace: httpbin, labels: {{app: nokeepalive}}}}
spec:
  selector: {{app: nokeepalive}}
  ports: [{{name: http, port: 8000, targetPort: {PLAIN_PORT}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: nokeepalive-1
  namespace: httpbin
  labels: {{kubernetes.io/service-name: nokeepalive}}
addressType: IPv4
ports: [{{name: http, port: {PLAIN_PORT}, protocol: TCP}}]
endpoints: [{{addresses: ["{HTTPBIN_ADDR}"], conditions: {{ready: true}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: nokeepalive, namespace: httpbin}}
spec:
  parentRefs: [{{name: http, namespace: kgateway-system}}]
  hostnames: ["{PLAIN_HOST}"]
  rules: [{{backendRefs: [{{name: nokeepalive, port: 8000}}]}}]
"""

# What the tests measured, for the printout and the notes file.
MEASURED: dict[str, Any] = {}


@dataclass
class Lab:
    """Envoy (and xdscp) in `gateway`, the httpbins in `backend`, one veth pair between."""

    gateway: Namespace
    backend: Namespace
    backend_dev: str
    envoy: Envoy
    processes: list[Process] = field(default_factory=list)

    def get(self, host: str) -> int:
        url = f"http://127.0.0.1:{LISTENER_PORT}/get"
        status, _ = self.gateway.run(http_get, url, headers={"Host": host}, timeout=5)
        return status

    def counters(self, cluster: str) -> dict[str, int]:
        """Envoy's counters and gauges for `cluster`, without the cluster prefix."""
        prefix = f"cluster.{cluster}."
        stats: dict[str, str] = self.gateway.run(self.envoy.stats, prefix)
        return {
            k.removeprefix(prefix): int(v)
            for k, v in stats.items()
            if k.startswith(prefix) and v.strip().isdigit()
        }

    def upstream(self, port: int) -> list[TcpSocket]:
        """Envoy's established TCP sockets to the httpbin on `port`."""
        return [
            s
            for s in netns.tcp_sockets(self.gateway)
            if s.peer == (HTTPBIN_ADDR, port) and s.pid == self.envoy.popen.pid
        ]

    def one_upstream(self, port: int) -> TcpSocket:
        """The single pooled connection to `port`, once there is exactly one."""

        def exactly_one() -> TcpSocket | None:
            sockets = self.upstream(port)
            return sockets[0] if len(sockets) == 1 else None

        return wait_for(exactly_one, 10, f"exactly one Envoy connection to {HTTPBIN_ADDR}:{port}")

    def logs(self) -> str:
        return log_tails(self.processes, 20)


def _answers(ns: Namespace, url: str) -> bool:
    try:
        status, _ = ns.run(http_get, url, timeout=2)
    except OSError:
        return False
    return status == 200


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    netns.skip_unless_available()
    tag = f"{os.getpid()}"
    with ExitStack() as stack:
        where = stack.enter_context(workdir("xdscp-keepalive-"))
        gateway = netns.namespace(f"xdscp-ka-gw-{tag}", stack)
        backend = netns.namespace(f"xdscp-ka-be-{tag}", stack)
        gateway_dev, backend_dev = f"xkg{tag}"[:15], f"xkb{tag}"[:15]
        netns.veth_pair(
            gateway,
            gateway_dev,
            f"{ENVOY_ADDR}/{PREFIX}",
            backend,
            backend_dev,
            f"{HTTPBIN_ADDR}/{PREFIX}",
        )

        processes = []
        for port in (KEEPALIVE_PORT, PLAIN_PORT):
            argv = httpbin_argv(HTTPBIN_ADDR, port)
            processes.append(backend.start(f"httpbin-{port}", argv, where, stack))
        for process, port in zip(processes, (KEEPALIVE_PORT, PLAIN_PORT), strict=True):
            url = f"http://{HTTPBIN_ADDR}:{port}/status/200"

            def httpbin_answers(process: Process = process, url: str = url) -> bool:
                process.check_alive()
                return _answers(gateway, url)  # from Envoy's side of the veth

            wait_for(httpbin_answers, 30, f"{url} from the gateway namespace")

        policies = where / "policies"
        policies.mkdir()
        (policies / "keepalive.yaml").write_text(POLICIES)
        xdscp, ports = netns.serve(gateway, policies, "127.0.0.1", where, stack)
        processes.append(xdscp)

        config = bootstrap(TEMPLATE, ports["xds_port"])
        envoy = Envoy(config, where, argv_prefix=gateway.exec_prefix)
        stack.callback(envoy.stop)
        processes.append(envoy)

        lab = Lab(gateway, backend, backend_dev, envoy, processes)
        for host in (KEEPALIVE_HOST, PLAIN_HOST):
            wait_routed(envoy, partial(lab.get, host), f"{host} through Envoy", lab.logs)
        yield lab


def test_upstream_socket_has_the_policys_keepalive(lab: Lab) -> None:
    assert lab.get(KEEPALIVE_HOST) == 200
    assert lab.get(PLAIN_HOST) == 200
    with_policy = lab.one_upstream(KEEPALIVE_PORT)
    without = lab.one_upstream(PLAIN_PORT)

    # What `ss -tno` shows: a keepalive timer counting down from at most keepAliveTime.
    assert with_policy.timer == "keepalive", with_policy
    assert with_policy.keepalive_left is not None
    assert 0 < with_policy.keepalive_left <= TIME, with_policy
    assert without.timer != "keepalive", without

    # What the kernel holds for Envoy's own descriptors.
    assert with_policy.pid is not None and with_policy.fd is not None
    assert without.pid is not None and without.fd is not None
    options = netns.keepalive_options(with_policy.pid, with_policy.fd)
    assert options == KeepaliveOptions(enabled=True, time=TIME, interval=INTERVAL, probes=PROBES)
    assert not netns.keepalive_options(without.pid, without.fd).enabled

    MEASURED["timer"] = (
        f"timer:({with_policy.timer},{','.join(with_policy.timer_args)})"
        f" = {with_policy.keepalive_left:.2f} s left"
    )
    MEASURED["options"] = options
    print(f"\nkeepalive upstream: {MEASURED['timer']}, {options}; plain upstream: no timer")


def test_dead_peer_is_detected_only_with_keepalive(lab: Lab) -> None:
    # Fresh traffic on both pooled connections, then silence.
    assert lab.get(KEEPALIVE_HOST) == 200
    assert lab.get(PLAIN_HOST) == 200
    with_policy = lab.one_upstream(KEEPALIVE_PORT)
    without = lab.one_upstream(PLAIN_PORT)
    before = {c: lab.counters(c) for c in (KEEPALIVE_CLUSTER, PLAIN_CLUSTER)}
    assert before[KEEPALIVE_CLUSTER]["upstream_cx_active"] == 1
    assert before[PLAIN_CLUSTER]["upstream_cx_active"] == 1

    # The peer vanishes: its end of the veth goes down, nothing (no FIN, no RST) comes back.
    down_at = time.monotonic()
    lab.backend.ip("link", "set", lab.backend_dev, "down")
    try:
        kernel_gone, envoy_gone, plain_seen = _watch(lab, with_policy, without, before, down_at)
    finally:
        lab.backend.ip("link", "set", lab.backend_dev, "up")

    MEASURED.update(kernel_gone=kernel_gone, envoy_gone=envoy_gone, plain_seen=plain_seen)
    assert kernel_gone is not None, "the kernel never dropped the keepalive connection"
    # Not before the probes could have gone unanswered: it was keepalive, not a RST or FIN.
    assert kernel_gone >= PROBES * INTERVAL - 0.2, kernel_gone
    assert envoy_gone is not None and envoy_gone <= DETECT_DEADLINE, (
        f"with tcpKeepalive {TIME}s/{INTERVAL}s x{PROBES}, Envoy still had the connection to the "
        f"silent peer after {DETECT_DEADLINE:.0f}s (kernel: {kernel_gone})\n{lab.logs()}"
    )
    after = lab.counters(KEEPALIVE_CLUSTER)
    assert after["upstream_cx_destroy_remote"] == (
        before[KEEPALIVE_CLUSTER]["upstream_cx_destroy_remote"] + 1
    )
    assert after["upstream_cx_active"] == 0
    plain = lab.counters(PLAIN_CLUSTER)
    assert plain["upstream_cx_destroy"] == before[PLAIN_CLUSTER]["upstream_cx_destroy"]
    assert plain["upstream_cx_active"] == 1

    # The peer is back: once both ends of the veth have carrier, the next request succeeds,
    # on a new connection for the keepalive cluster. The plain cluster's connection never
    # noticed anything and is simply reused.
    wait_for(lambda: _carrier(lab), 10, "the veth pair to have carrier again")
    assert lab.get(KEEPALIVE_HOST) == 200
    assert lab.get(PLAIN_HOST) == 200
    after = lab.counters(KEEPALIVE_CLUSTER)
    assert after["upstream_cx_total"] == before[KEEPALIVE_CLUSTER]["upstream_cx_total"] + 1
    reconnected = lab.one_upstream(KEEPALIVE_PORT)
    assert reconnected.local != with_policy.local
    plain = lab.counters(PLAIN_CLUSTER)
    assert plain["upstream_cx_total"] == before[PLAIN_CLUSTER]["upstream_cx_total"]

    _report()


def _watch(
    lab: Lab,
    with_policy: TcpSocket,
    without: TcpSocket,
    before: dict[str, dict[str, int]],
    down_at: float,
) -> tuple[float | None, float | None, float]:
    """Poll for the whole window: when the kernel and Envoy drop the keepalive connection, and
    that the plain one stays established throughout. Returns (kernel, Envoy, plain seen until),
    in seconds after the link went down."""
    kernel_gone: float | None = None
    envoy_gone: float | None = None
    destroyed = before[KEEPALIVE_CLUSTER]["upstream_cx_destroy"]
    plain_destroyed = before[PLAIN_CLUSTER]["upstream_cx_destroy"]
    plain_seen = 0.0
    while True:
        now = time.monotonic() - down_at
        sockets = netns.tcp_sockets(lab.gateway)
        locals_ = {s.local for s in sockets}
        if kernel_gone is None and with_policy.local not in locals_:
            kernel_gone = now
        if (
            envoy_gone is None
            and lab.counters(KEEPALIVE_CLUSTER)["upstream_cx_destroy"] > destroyed
        ):
            envoy_gone = now
        assert without.local in locals_, (
            f"the connection without keepalive went away {now:.1f}s after the peer vanished"
        )
        assert lab.counters(PLAIN_CLUSTER)["upstream_cx_destroy"] == plain_destroyed
        plain_seen = now
        if now >= STAYS_WINDOW and envoy_gone is not None:
            return kernel_gone, envoy_gone, plain_seen
        if now >= max(STAYS_WINDOW, DETECT_DEADLINE):
            return kernel_gone, envoy_gone, plain_seen
        time.sleep(0.05)  # a polling period, not a wait for state


def _carrier(lab: Lab) -> bool:
    """Both ends of the veth pair up, with carrier (LOWER_UP)."""
    links = [
        lab.gateway.ip("-o", "link", "show", "type", "veth"),
        lab.backend.ip("-o", "link", "show", "type", "veth"),
    ]
    return all("LOWER_UP" in text and "state UP" in text for text in links)


def _fmt(seconds: float | None) -> str:
    return "not seen" if seconds is None else f"{seconds:.1f} s"


def _report() -> None:
    options = MEASURED.get("options")
    rows = [
        (
            "Envoy's upstream socket (policy)",
            f"SO_KEEPALIVE={int(options.enabled)}, TCP_KEEPIDLE={options.time}, "
            f"TCP_KEEPINTVL={options.interval}, TCP_KEEPCNT={options.probes}; "
            f"`ss -tno`: {MEASURED['timer']}"
            if options
            else "not measured",
        ),
        ("Envoy's upstream socket (no policy)", "SO_KEEPALIVE=0, no keepalive timer"),
        ("Silent peer, with policy: connection gone from `ss`", _fmt(MEASURED["kernel_gone"])),
        (
            "Silent peer, with policy: Envoy `upstream_cx_destroy_remote` +1",
            _fmt(MEASURED["envoy_gone"]),
        ),
        ("Silent peer, no policy: still established after", _fmt(MEASURED["plain_seen"])),
        (
            "After the link is back",
            "next request 200; new connection with policy "
            "(`upstream_cx_total` +1), old one reused without",
        ),
    ]
    table = "\n".join(f"| {what} | {value} |" for what, value in rows)
    text = (
        "## TCP keepalive against a silent peer (measured)\n\n"
        f"tcpKeepalive: keepAliveTime {TIME}s, keepAliveInterval {INTERVAL}s, keepAliveProbes "
        f"{PROBES} (promise: a silent peer is dropped within {PROMISED} s of silence). The "
        "peer's veth end is taken down under an idle pooled connection; times are from that "
        "moment (`tests/e2e/test_keepalive_kernel.py`).\n\n"
        f"| What | Measured |\n|---|---|\n{table}\n"
    )
    NOTES.write_text(text)
    print("\n" + text)
