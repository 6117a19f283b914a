"""Limits on the HTTP exchange itself, as pure ASGI middleware (they see the bytes as they stream):
a body cap that holds for chunked requests too, and a time limit on the whole request."""
from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413: at once when Content-Length says so, else
    by counting the bytes as they arrive (chunked transfer has no Content-Length). The body is read
    (at most `limit` bytes) before the app runs, then handed to it unchanged.

    Paths under a prefix of `streamed` ({prefix: limit}, file uploads) have their own limit and are not
    buffered: the app reads them as they arrive (to temporary files) while the bytes are counted."""

    def __init__(self, app: ASGIApp, limit: int, streamed: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.streamed = streamed or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((cap for prefix, cap in self.streamed.items() if scope["path"].startswith(prefix)), None)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > (limit or self.limit)):
            await _refuse(send, 413, f"request body over {limit or self.limit} bytes")
            return
        if limit is not None:
            await self._streamed(scope, receive, send, limit)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse(send, 413, f"request body over {self.limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()          # after the body: wait for a disconnect, as the server would
        await self.app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        size, started = 0, False

        async def counting() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, counting, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, f"request body over {limit} bytes")


class RequestTimeout:
    """Answers 504 when a request (body and response) takes longer than `seconds`, so a slow client or
    a stuck dependency cannot hold a worker; reads also have their own database timeout."""

    def __init__(self, app: ASGIApp, seconds: float, longer: dict[str, float] | None = None):
        self.app = app
        self.seconds = seconds
        self.longer = longer or {}      # {path prefix: seconds}: uploads take longer than queries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seconds = next((s for prefix, s in self.longer.items() if scope["path"].startswith(prefix)), self.seconds)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), seconds)
        except asyncio.TimeoutError:
            if not started:
                await _refuse(send, 504, f"request took longer than {seconds:g} s"
                                         f"{' (ITAM_REQUEST_TIMEOUT_S)' if seconds == self.seconds else ''}")
