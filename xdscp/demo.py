"""`xdscp demo`: the guide, end to end, on this machine with real processes.

httpbin under gunicorn, xdscp serving policies/, and Envoy with envoy/bootstrap.yaml; then a
request through Envoy's listener and the guide's config_dump check, read from the live Envoy.
"""

from __future__ import annotations

import json
import signal
import threading
from contextlib import ExitStack
from pathlib import Path

from xdscp import app
from xdscp.errors import UserError
from xdscp.processes import Envoy, Httpbin, NotReady, Xdscp, bootstrap, http_get, wait_for

CLUSTER = "kube_httpbin_httpbin_8000"
HTTPBIN_PORT = 18080  # where policies/httpbin-endpoints.yaml says httpbin listens
XDS_PORT = 18000  # where envoy/bootstrap.yaml says xdscp listens
ADMIN_PORT = 19000  # Envoy's admin port, as in the guide
LISTENER = "http://127.0.0.1:8080"  # the Gateway's listener in policies/gateway.yaml
HOST = "www.example.com"  # the HTTPRoute's hostname


def run(root: Path, once: bool) -> int:
    policies, template = root / "policies", root / "envoy" / "bootstrap.yaml"
    missing = [str(p) for p in (policies, template) if not p.exists()]
    if missing:
        raise UserError(
            f"{' and '.join(missing)} not found: run the demo in an xdscp checkout, "
            "or point --root at one"
        )
    workdir = root / ".demo"
    workdir.mkdir(exist_ok=True)
    with ExitStack() as stack:
        try:
            step(f"starting httpbin (gunicorn) on 127.0.0.1:{HTTPBIN_PORT}")
            stack.callback(Httpbin(workdir, HTTPBIN_PORT).stop)
            step(f"starting xdscp serving {policies} (xDS on 127.0.0.1:{XDS_PORT})")
            server = Xdscp([policies], workdir, xds_port=XDS_PORT)
            stack.callback(server.stop)
            step(f"starting Envoy with {template} (admin on 127.0.0.1:{ADMIN_PORT})")
            config = bootstrap(template, XDS_PORT, admin_port=ADMIN_PORT)
            stack.callback(Envoy(config, workdir).stop)
            status = wait_for(_request_through_envoy, 30, f"a 200 from {LISTENER} via Envoy")
        except NotReady as err:
            print(f"demo failed: {err}\n(logs in {workdir})")
            return 1
        step(f"GET {LISTENER}/get (Host: {HOST}) through Envoy -> HTTP {status}")
        cluster = app.envoy_clusters(f"http://127.0.0.1:{ADMIN_PORT}")[CLUSTER]
        step(f"config_dump?include_eds, cluster {CLUSTER}:")
        print(json.dumps(_guide_fields(cluster), indent=2))
        checks = app.verify(f"http://127.0.0.1:{ADMIN_PORT}", (policies,))
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


def _request_through_envoy() -> int | None:
    try:
        status, _ = http_get(f"{LISTENER}/get", headers={"Host": HOST})
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
