"""The admin HTTP endpoint: health, per-node xDS status, policy findings, metrics; and the
JSON documents it serves, built here from what is served and the fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from xdscp.cache import SnapshotCache
from xdscp.metrics import Metrics
from xdscp.render import gateway_dict, route_dict, status_dict
from xdscp.resourcetypes import SHORT_NAMES
from xdscp.served import Served
from xdscp.server.fleet import Fleet
from xdscp.server.ports import bind_error
from xdscp.snapshot import Snapshot
from xdscp.status import with_problems


async def start_admin(
    host: str,
    port: int,
    *,
    served: Callable[[], Served | None],
    fleet: Fleet,
    cache: SnapshotCache,
    metrics: Metrics,
) -> tuple[web.AppRunner, int]:
    """Serve /healthz, /readyz, /status, /policies and /metrics; returns the runner and port.

    `served` gives the newest view served (None before the first: not ready)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        """Two checks, as the API server's /readyz names them: `snapshot` (one is served) and
        `stale` (it is the latest input's translation). `?exclude=stale` leaves the second out:
        a readiness probe wants that, so one refused object does not take every replica out
        of its Service while they keep serving."""
        now = served()
        if now is None:
            return web.Response(status=503, text="[-]snapshot: none yet\n")
        checks = ["[+]snapshot ok"]
        if "stale" not in request.query.getall("exclude", []):
            checks.append(f"[-]stale: {now.stale}" if now.stale else "[+]stale ok")
        failed = any(c.startswith("[-]") for c in checks)
        return web.Response(status=503 if failed else 200, text="\n".join(checks) + "\n")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status_document(served(), fleet.describe(cache.explain)))

    async def policies_json(_: web.Request) -> web.Response:
        return web.json_response(policies_document(served()))

    async def prometheus(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status_json)
    app.router.add_get("/policies", policies_json)
    app.router.add_get("/metrics", prometheus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise bind_error("the admin endpoint", host, port, err) from None
    # aiohttp reports the port it bound (for port 0) only through its runner's addresses.
    return runner, int(runner.addresses[0][1])


def status_document(served: Served | None, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """/status: the snapshot's versions, each node group's, and every stream's."""
    return {
        "snapshot": served.snapshot.version if served else "(none)",
        "versions": _versions(served.snapshot) if served else {},
        "groups": {g: _versions(s) for g, s in sorted(served.groups.items())} if served else {},
        "stale": served.stale if served else "",
        "streams": streams,
    }


def policies_document(served: Served | None) -> dict[str, Any]:
    """/policies: every problem in the view served, each policy's status, and each Gateway's
    and HTTPRoute's (as Kubernetes mode writes them)."""
    findings = served.findings if served else None
    return {
        "snapshot": served.snapshot.version if served else "(none)",
        "stale": served.stale if served else "",
        "problems": [str(p) for p in findings.problems] if findings else [],
        # As Kubernetes mode writes them: a policy whose current version is invalid says so.
        "policies": [status_dict(s) for s in with_problems(findings.policies, findings.problems)]
        if findings
        else [],
        "gateways": [gateway_dict(s) for s in findings.gateways] if findings else [],
        "httproutes": [route_dict(s) for s in findings.routes] if findings else [],
    }


def _versions(snapshot: Snapshot) -> dict[str, str]:
    return {SHORT_NAMES[t]: v for t, v in snapshot.versions.items()}
