"""A TLS upstream in front of httpbin, as an Envoy cluster with a BackendConfigPolicy reaches it.

Each connection must open with a PROXY protocol v2 header (unless built without), then a TLS
handshake in which the client presents a certificate from the test CA (`rotate` switches to
another server certificate and CA, for connections from then on); the decrypted bytes go to
httpbin as they are, and httpbin's answers go back encrypted. What each connection showed
(PROXY command, SNI, ALPN, TLS version, client certificate, request lines) is recorded for the
test to check, and so is every connection refused, with why.

It runs on its own asyncio loop in a thread of the test process, on 127.0.0.1 unless told
(an EndpointSlice may not name loopback). TLS is done on memory BIOs rather than on the socket,
so the bytes read along with the PROXY header are fed to the handshake instead of being lost.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tests.certs import MtlsPaths
from xdscp.demo.processes import http_get

PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PROXY_COMMANDS = {0: "LOCAL", 1: "PROXY"}
_REQUEST_LINE = re.compile(rb"^([A-Z]+ \S+ HTTP/1\.[01])\r\n")
_CHUNK = 65536
_TIMEOUT = 10.0


class Refused(Exception):
    """The client did not speak PROXY v2 + TLS as required."""


@dataclass
class Connection:
    proxy_version: int
    proxy_command: str
    sni: str | None = None
    alpn: str | None = None
    tls_version: str | None = None
    client_common_name: str | None = None
    requests: list[str] = field(default_factory=list)


class TlsUpstream:
    """`with TlsUpstream(httpbin_port, certs) as upstream:` serves on `upstream.port`."""

    def __init__(
        self,
        target_port: int,
        certs: MtlsPaths,
        proxy_protocol: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.target_port, self.host = target_port, host
        self.proxy_protocol = proxy_protocol
        self.context = self._context(certs)
        self.port = 0
        self.connections: list[Connection] = []
        self.refused: list[str] = []
        self._sni: dict[int, str | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tls-upstream", daemon=True
        )

    # Lifecycle

    def __enter__(self) -> TlsUpstream:
        self._thread.start()
        try:
            self.port = self._call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Closes the listener and every connection, then ends the loop and its thread."""
        if self._thread.is_alive():
            try:
                self._call(self._close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(_TIMEOUT)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    def rotate(self, certs: MtlsPaths) -> None:
        """Serve another certificate and trust only another CA, from the next connection on."""
        self.context = self._context(certs)

    def drop(self) -> None:
        """Close every open connection (the listener stays): the client must connect anew."""
        self._call(self._drop())

    def _context(self, certs: MtlsPaths) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        context.load_verify_locations(certs.ca_cert)
        context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
        context.set_alpn_protocols(["http/1.1"])  # chosen only if the client offers it
        context.sni_callback = self._record_sni
        return context

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(_TIMEOUT)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop()

    async def _drop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # What the test reads (list copies: the loop thread appends to them)

    def seen(self) -> list[Connection]:
        return list(self.connections)

    def request_lines(self) -> list[str]:
        return [line for c in self.seen() for line in c.requests]

    # One connection

    def _record_sni(
        self, tls: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext
    ) -> None:
        self._sni[id(tls)] = name

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except Refused as refusal:
            self.refused.append(str(refusal))
        except ssl.SSLError as error:
            self.refused.append(f"TLS: {error}")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up, which is no protocol error (Envoy closes idle connections)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = await self._proxy_header(reader) if self.proxy_protocol else Connection(0, "")
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        session = _Session(
            self.context.wrap_bio(incoming, outgoing, server_side=True),
            incoming,
            outgoing,
            reader,
            writer,
        )
        await session.handshake()
        tls = session.tls
        connection.sni = self._sni.pop(id(tls), None)
        connection.alpn = tls.selected_alpn_protocol()
        connection.tls_version = tls.version()
        connection.client_common_name = _common_name(tls.getpeercert())
        self.connections.append(connection)

        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            directions = [
                asyncio.create_task(session.to_target(target_writer, connection)),
                asyncio.create_task(session.to_client(target_reader)),
            ]
            try:
                await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for direction in directions:
                    direction.cancel()
                await asyncio.gather(*directions, return_exceptions=True)
        finally:
            target_writer.close()

    async def _proxy_header(self, reader: asyncio.StreamReader) -> Connection:
        header = await reader.readexactly(16)
        if header[:12] != PROXY_V2_SIGNATURE:
            raise Refused(f"no PROXY protocol v2 signature, got {header!r}")
        version, command = header[12] >> 4, header[12] & 0x0F
        if version != 2 or command not in PROXY_COMMANDS:
            raise Refused(f"PROXY v2 header with version {version}, command {command}")
        await reader.readexactly(int.from_bytes(header[14:16], "big"))  # the addresses
        return Connection(proxy_version=version, proxy_command=PROXY_COMMANDS[command])


@dataclass
class _Session:
    """TLS over memory BIOs between the client's stream and the plaintext target."""

    tls: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self.flush()
                if not await self.feed():
                    raise ConnectionError("closed during the TLS handshake") from None
            except ssl.SSLError:
                await self.flush()  # the alert, so the client can say why
                raise
        await self.flush()

    async def to_target(self, target: asyncio.StreamWriter, connection: Connection) -> None:
        while True:
            try:
                data = self.tls.read(_CHUNK)
            except ssl.SSLWantReadError:
                await self.flush()
                if not await self.feed():
                    return
                continue
            except ssl.SSLZeroReturnError:
                return
            await self.flush()  # e.g. TLS 1.3 session tickets
            if not data:
                return
            if found := _REQUEST_LINE.match(data):
                connection.requests.append(found.group(1).decode("ascii"))
            target.write(data)
            await target.drain()

    async def to_client(self, target: asyncio.StreamReader) -> None:
        while data := await target.read(_CHUNK):
            self.tls.write(data)
            await self.flush()

    async def feed(self) -> bool:
        chunk = await self.reader.read(_CHUNK)
        if not chunk:
            return False
        self.incoming.write(chunk)
        return True

    async def flush(self) -> None:
        if data := self.outgoing.read():
            self.writer.write(data)
            await self.writer.drain()


def _common_name(certificate: dict[str, Any] | None) -> str | None:
    for rdn in (certificate or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def answered_as(listener: str, upstream: TlsUpstream, client: str) -> bool:
    """A request through Envoy's `listener` (the guide's route) got its 200 over an upstream
    connection made with `client`'s certificate."""
    try:
        status, _ = http_get(listener + "/get", headers={"Host": "www.example.com"})
    except OSError:
        return False
    seen = upstream.seen()
    return status == 200 and bool(seen) and seen[-1].client_common_name == client
