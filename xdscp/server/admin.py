"""The admin HTTP endpoint: health, per-node xDS status, policy findings, metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from xdscp.server.metrics import Metrics
from xdscp.server.ports import bind_error

Provider = Callable[[], dict[str, Any]]


async def start_admin(
    host: str,
    port: int,
    *,
    status: Provider,
    policies: Provider,
    ready: Callable[[], bool],
    metrics: Metrics,
) -> tuple[web.AppRunner, int]:
    """Serve /healthz, /readyz, /status, /policies and /metrics; returns the runner and port."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="no snapshot yet\n")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status())

    async def policies_json(_: web.Request) -> web.Response:
        return web.json_response(policies())

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
