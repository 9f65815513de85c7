"""The AggregatedDiscoveryService over grpc.aio: one task per stream, fed by requests and
by the cache's wake-ups, answering with bytes serialized once per snapshot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from envoy.service.discovery.v3 import discovery_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from xdscp.cache import SnapshotCache
from xdscp.errors import BindError
from xdscp.logs import StreamLog
from xdscp.metrics import Metrics
from xdscp.server.admission import Admission, Limits, Pace, Rejection
from xdscp.server.auth import TlsConfig, peer_identities
from xdscp.server.delta import DeltaStream
from xdscp.server.fleet import Fleet
from xdscp.server.observer import StreamObserver, Verdicts
from xdscp.server.ports import check_free, split_address
from xdscp.server.sotw import SotwStream
from xdscp.server.stream import Request, Variant

log = logging.getLogger("xdscp.server")

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
# A delta reconnect of an Envoy holding 10,000 clusters names all their versions: ~1 MiB;
# gRPC's 4 MiB default is near for larger fleets, so allow far more.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class _Changed:
    """The cache's wake-up, queued at most once until the stream handles it."""


_CHANGED = _Changed()
_END = None


class AdsServicer:
    def __init__(
        self,
        cache: SnapshotCache,
        fleet: Fleet,
        metrics: Metrics,
        limits: Limits | None = None,
        verdicts: Verdicts | None = None,
    ) -> None:
        self.cache = cache
        self.fleet = fleet
        self.metrics = metrics
        self.limits = limits or Limits()
        self.verdicts = verdicts  # told of every ACK and NACK

    async def sotw(
        self, requests: AsyncIterator[Request], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        # grpc.aio streams responses only from a handler that is itself an async generator.
        async for response in self._serve(requests, context, "sotw", SotwStream):
            yield response

    async def delta(
        self, requests: AsyncIterator[Request], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        # grpc.aio streams responses only from a handler that is itself an async generator.
        async for response in self._serve(requests, context, "delta", DeltaStream):
            yield response

    async def _serve(
        self,
        requests: AsyncIterator[Request],
        context: grpc.aio.ServicerContext,
        variant: str,
        make: Callable[[int], Variant],
    ) -> AsyncIterator[bytes]:
        status = self.fleet.open(variant, context.peer())
        stream = make(status.stream)
        stream_log = StreamLog(log, status)
        observer = StreamObserver(status, self.metrics, stream_log, self.verdicts)
        admission = Admission(self.limits, peer_identities(context.auth_context()))
        pace = Pace(self.limits)
        events: asyncio.Queue[Request | _Changed | None] = asyncio.Queue()
        room = asyncio.Semaphore(1)  # for one request read ahead of the one being handled
        reader = asyncio.create_task(_read(requests, events, room))
        wake_pending = False
        group = ""

        def wakeup() -> None:
            nonlocal wake_pending
            if not wake_pending:
                wake_pending = True
                events.put_nowait(_CHANGED)

        cancel_watch: Callable[[], None] | None = None
        self.metrics.streams.labels(variant).inc()
        try:
            while (event := await events.get()) is not _END:
                if isinstance(event, _Changed):
                    wake_pending = False
                    snapshot = self.cache.get(group)
                    output = stream.on_snapshot(snapshot) if snapshot else None
                else:
                    room.release()
                    rejection = admission.admit(event)
                    if rejection is None and (wait := pace.wait(event)):
                        await asyncio.sleep(wait)
                    if rejection is None:
                        observer.request(event)
                        if cancel_watch is None:
                            node_group = self.cache.group_of(admission.node_of(event))
                            group, status.group = node_group.key, node_group
                            cancel_watch = self.cache.watch(group, wakeup)
                            stream_log.info(
                                "%s stream opened from %s, group %s",
                                variant,
                                status.peer,
                                group,
                            )
                            if note := self.cache.explain(node_group):
                                stream_log.warning("group %s: %s", group, note)
                        output = stream.on_request(event, self.cache.get(group))
                        rejection = admission.hold(stream.names_held())
                    if rejection is not None:
                        self._refuse(rejection, stream_log, context)
                        return
                if output is None:
                    continue
                observer.record(output.events)
                for response in output.responses:
                    yield response
            await reader  # re-raises what ended the stream, if it was an error
        finally:
            reader.cancel()
            if cancel_watch:
                cancel_watch()
            self.fleet.close(status)
            self.metrics.streams.labels(variant).dec()
            stream_log.info("%s stream closed", variant)

    def _refuse(
        self, rejection: Rejection, stream_log: StreamLog, context: grpc.aio.ServicerContext
    ) -> None:
        """The status to end the stream with: counted, logged once, told to the client.

        Set, and the handler returns: an abort (an exception through grpc.aio) left memory
        behind in the server, as much as the request that was refused, on every refusal.
        """
        self.metrics.rejected.labels(rejection.reason).inc()
        stream_log.warning("stream ended with %s: %s", rejection.code.name, rejection.message)
        context.set_code(rejection.code)
        context.set_details(rejection.message)


async def _read(
    requests: AsyncIterator[Request],
    events: asyncio.Queue[Request | _Changed | None],
    room: asyncio.Semaphore,
) -> None:
    """Requests into `events`, each once there is room for it: a client sending faster than
    its stream is served is held back by gRPC's flow control, not buffered here."""
    try:
        while True:
            await room.acquire()
            request = await anext(requests, None)
            if request is None:
                break
            events.put_nowait(request)
    finally:
        events.put_nowait(_END)


async def start_server(
    servicer: AdsServicer,
    address: str,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_concurrent_streams: int = 0,
    tls: TlsConfig | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The gRPC server with ADS (both variants) and gRPC health checking, started; and its port."""
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.so_reuseport", 0),  # a second xdscp on this port must fail, not share it
    ]
    if max_concurrent_streams:
        options.append(("grpc.max_concurrent_streams", max_concurrent_streams))
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                        servicer.sotw,
                        request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                        response_serializer=bytes,
                    ),
                    "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                        servicer.delta,
                        request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                        response_serializer=bytes,
                    ),
                },
            )
        ]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host, wanted = split_address(address)
    check_free(host, wanted, "xDS")
    try:
        port = (
            server.add_secure_port(address, tls.credentials())
            if tls
            else server.add_insecure_port(address)
        )
    except RuntimeError:  # gRPC says only "Failed to bind"; taken since the check, most likely
        raise BindError(f"cannot listen for xDS on {address}") from None
    await server.start()
    await health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, port
