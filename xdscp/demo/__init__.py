"""`xdscp demo`: the guide, end to end, on this machine with real processes.

httpbin under gunicorn, xdscp serving policies/, and Envoy with envoy/bootstrap.yaml; then a
request through Envoy's listener and the guide's config_dump check, read from the live Envoy.
"""

from __future__ import annotations

import json
import signal
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from xdscp import app
from xdscp.demo.processes import Envoy, Httpbin, NotReady, Xdscp, bootstrap, http_get, wait_for
from xdscp.errors import UserError
from xdscp.model.resources import Resources
from xdscp.server.ports import check_free

CLUSTER = "kube_httpbin_httpbin_8000"
SERVICE = ("httpbin", "httpbin")  # whose EndpointSlice says where httpbin listens
HOST = "www.example.com"  # the HTTPRoute's hostname
# The demo's own ports (flags of `xdscp demo`); httpbin's and the listener's are in policies/.
XDS_PORT = 18000  # where envoy/bootstrap.yaml says xdscp listens
XDSCP_ADMIN_PORT = 9901  # serve's default: `xdscp status` finds it without a flag
ADMIN_PORT = 19000  # Envoy's admin port, as in the guide and `xdscp verify`'s default


@dataclass(frozen=True)
class Ports:
    xds: int = XDS_PORT
    admin: int = XDSCP_ADMIN_PORT
    envoy_admin: int = ADMIN_PORT


def run(root: Path, once: bool, ports: Ports = Ports()) -> int:
    policies, template = root / "policies", root / "envoy" / "bootstrap.yaml"
    missing = [str(p) for p in (policies, template) if not p.exists()]
    if missing:
        raise UserError(
            f"{' and '.join(missing)} not found: run the demo in an xdscp checkout, "
            "or point --root at one"
        )
    httpbin_port, listener_port = _policy_ports(app.load((policies,)).resources, policies)
    # Every port checked before anything starts: a taken one is named, not found in a log.
    for port, what in (
        (httpbin_port, f"httpbin (the EndpointSlice in {policies})"),
        (listener_port, f"Envoy's Gateway listener (in {policies})"),
        (ports.xds, "xdscp's xDS (demo --xds-port)"),
        (ports.admin, "xdscp's admin (demo --admin-port)"),
        (ports.envoy_admin, "Envoy's admin (demo --envoy-admin-port)"),
    ):
        check_free("127.0.0.1", port, what, "is a demo running already, or another program?")
    listener = f"http://127.0.0.1:{listener_port}"
    envoy_admin = f"http://127.0.0.1:{ports.envoy_admin}"
    workdir = root / ".demo"
    workdir.mkdir(exist_ok=True)
    with ExitStack() as stack:
        envoy: Envoy | None = None
        try:
            step(f"starting httpbin (gunicorn) on 127.0.0.1:{httpbin_port}")
            stack.callback(Httpbin(workdir, httpbin_port).stop)
            step(
                f"starting xdscp serving {policies} (xDS on 127.0.0.1:{ports.xds}, "
                f"admin on http://127.0.0.1:{ports.admin}: {_status_command(ports.admin)})"
            )
            server = Xdscp(
                [policies.resolve()], workdir, xds_port=ports.xds, admin_port=ports.admin
            )
            stack.callback(server.stop)
            step(f"starting Envoy with {template} (admin on {envoy_admin})")
            # The ports taken, which port 0 (any) leaves to xdscp and Envoy.
            config = bootstrap(template, server.xds_port, admin_port=ports.envoy_admin)
            envoy = Envoy(config, workdir, log_level="warning")  # its warnings and errors only
            stack.callback(envoy.stop)
            envoy_admin = envoy.admin
            status = wait_for(
                lambda: _request_through_envoy(listener), 30, f"a 200 from {listener} via Envoy"
            )
        except NotReady as err:
            said = envoy.log_tail(20) if envoy else ""
            print(f"demo failed: {err}" + (f"\nEnvoy says:\n{said}" if said else ""))
            print(f"(logs in {workdir})")
            return 1
        step(f"GET {listener}/get (Host: {HOST}) through Envoy -> HTTP {status}")
        cluster = app.envoy_clusters(envoy_admin)[CLUSTER]
        step(f"config_dump?include_eds, cluster {CLUSTER}:")
        print(json.dumps(_guide_fields(cluster), indent=2))
        checks = app.verify(envoy_admin, (policies,))
        step("xdscp verify:")
        for check in checks:
            print(f"  {check}")
        if not all(c.ok for c in checks):
            return 1
        if once:
            return 0
        step(f"serving; edit {policies} and Envoy follows. Ctrl-C stops everything.")
        _wait_for_interrupt()
    return 0


def _status_command(admin_port: int) -> str:
    """How to ask this demo's xdscp which Envoy runs what (`.venv/bin`: as `make demo` runs)."""
    flag = "" if admin_port == XDSCP_ADMIN_PORT else f" --admin http://127.0.0.1:{admin_port}"
    return f".venv/bin/xdscp status{flag}"


def _policy_ports(resources: Resources, policies: Path) -> tuple[int, int]:
    """Where httpbin must listen and where Envoy's Gateway listener will: as policies/ says."""
    httpbin = [
        port.port
        for s in resources.endpoint_slices.values()
        if (s.metadata.namespace, s.service_name) == SERVICE
        for port in s.ports
        if port.port
    ]
    listeners = [
        listener.port for g in resources.gateways.values() for listener in g.spec.listeners
    ]
    if not httpbin or not listeners:
        raise UserError(f"{policies} needs httpbin's EndpointSlice and a Gateway listener")
    return httpbin[0], listeners[0]


def _request_through_envoy(listener: str) -> int | None:
    try:
        status, _ = http_get(f"{listener}/get", headers={"Host": HOST})
    except OSError:
        return None
    return status if status == 200 else None


def _guide_fields(cluster: dict[str, object]) -> dict[str, object]:
    keys = ("name", "connect_timeout", "upstream_connection_options")
    return {k: cluster[k] for k in keys if k in cluster}


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def step(message: str) -> None:
    print(f"==> {message}", flush=True)
