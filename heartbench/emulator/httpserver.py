"""A small HTTP/1.1 server on asyncio protocols: keep-alive, Content-Length and chunked bodies.

The emulator puts one of these in front of every execution environment (its Runtime API) and one as
the front door (Invoke API), so it has to be cheap per request. Handlers are coroutines taking a
`Request` and returning a `Response`; a handler may wait as long as it likes (a runtime's
`invocation/next` waits until an event is dispatched), and requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Awaitable, Callable
from urllib.parse import parse_qsl, unquote

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024  # hard cap; API-level limits (6 MB) are checked by the handlers

REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]      # lower-cased names
    body: bytes


@dataclasses.dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def encode(self) -> bytes:
        head = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        for name, value in self.headers.items():
            head.append(f"{name}: {value}")
        if self.status != 204:
            head.append(f"Content-Length: {len(self.body)}")
        head.append("\r\n")
        data = "\r\n".join(head).encode("latin-1")
        return data + self.body if self.status != 204 else data


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, server: "HttpServer"):
        self.handler = handler
        self.server = server
        self.buffer = bytearray()
        self.pending: list[Request] = []
        self.busy = False
        self.refusal: Response | None = None   # a 400 owed after the responses already owed
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc):
        self.server.connections.discard(self)

    def data_received(self, data: bytes):
        if self.refusal is not None:
            return  # the connection is done: nothing after a malformed request is read
        self.buffer += data
        try:
            while True:
                request = self._parse()
                if request is None:
                    break
                self.pending.append(request)
        except _BadRequest as e:
            self.refusal = Response.json(400, {"message": str(e)}, {"Connection": "close"})
            self.buffer.clear()
        if self.pending and not self.busy:
            self._serve_next()
        elif not self.busy:
            self._refuse_if_owed()

    def _refuse_if_owed(self):
        """Answer earlier requests first; then the 400 for the malformed one, and close."""
        if self.refusal is not None and not self.pending and not self.busy:
            self._write(self.refusal)
            self.transport.close()

    def _parse(self) -> Request | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise _BadRequest("request headers too large")
            return None
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest(f"malformed request line {lines[0][:80]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"malformed header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = _parse_chunked(self.buffer, start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest("invalid Content-Length") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadRequest("invalid Content-Length")
            if len(self.buffer) - start < length:
                return None
            body = bytes(self.buffer[start:start + length])
            consumed = start + length
        del self.buffer[:consumed]
        path, _, qs = target.partition("?")
        return Request(method, unquote(path), dict(parse_qsl(qs)), headers, body)

    def _serve_next(self):
        request = self.pending.pop(0)
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._run(request))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    async def _run(self, request: Request):
        try:
            response = await self.handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a handler must not take the server down
            log.exception("handler failed for %s %s", request.method, request.path)
            response = Response.json(500, {"message": "internal error in heartbench emulator"})
        self._write(response)
        self.busy = False
        if self.transport.is_closing():
            return
        if request.headers.get("connection", "").lower() == "close":
            self.transport.close()
        elif self.pending:
            self._serve_next()
        else:
            self._refuse_if_owed()

    def _write(self, response: Response):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response.encode())


def _parse_chunked(buffer: bytearray, start: int):
    body = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buffer[pos:eol]).split(b";")[0], 16)
        except ValueError:
            raise _BadRequest("invalid chunk size") from None
        pos = eol + 2
        if size == 0:  # optional trailer fields, then an empty line
            while True:
                line_end = buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                if line_end == pos:
                    return bytes(body), pos + 2
                pos = line_end + 2
        if len(buffer) < pos + size + 2:
            return None
        if buffer[pos + size:pos + size + 2] != b"\r\n":
            raise _BadRequest("chunk data not followed by CRLF")
        body += buffer[pos:pos + size]
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest("body too large")
        pos += size + 2


class HttpServer:
    def __init__(self, handler: Handler):
        self.handler = handler
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self.handler, self), host, port,
                                                reuse_address=True, backlog=1024)
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self, grace_s: float = 0.0):
        """Stop listening; give requests in progress `grace_s` to be answered; then drop the rest."""
        self.stop_listening()
        if grace_s > 0 and self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_s)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
