"""Request guards in front of every route: body size on the stream, cross-site writes, caching.

A declared Content-Length can be absent (chunked bodies), so the body limit wraps the ASGI
``receive`` channel and counts what really arrives. A cookie travels with requests from any
page of the same site (another port of the same host is the same site), so a state change
made with the session cookie must come from this station's own origin and must not be a
content type a plain HTML form or a no-CORS fetch can send. API token calls are exempt: a
browser never attaches a bearer token on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: request bodies of ordinary (non-upload) API calls are small
JSON_BODY_LIMIT = 1024 * 1024
UPLOAD_PATHS = ("/api/batches", "/api/register/imports")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: content types a cross-site form or no-CORS fetch may send without a preflight
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
#: the HTML forms of the web UI itself (before and at the end of a session)
FORM_PATHS = frozenset({"/login", "/logout"})
SESSION_COOKIE = "station_session"


def body_limit_for(path: str, upload_limit: int) -> int:
    """The most bytes a request body to ``path`` may carry."""
    if path in UPLOAD_PATHS or path.startswith("/api/uploads/"):
        return upload_limit
    return JSON_BODY_LIMIT


class BodyLimit:
    """Stops reading a request body as soon as it passes the limit for its path.

    The 413 is sent from here and the application then sees the client as gone, so no
    framework layer can turn the refusal into something else; whatever the application still
    tries to send afterwards is dropped."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        received = 0
        started = refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        body = json.dumps(
                            {
                                "detail": f"request body is over the limit of {limit} bytes; "
                                "nothing was stored",
                                "fix": "send a smaller body (large files go to the upload API)",
                            }
                        ).encode()
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 413,
                                "headers": [
                                    (b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close"),
                                ],
                            }
                        )
                        await send({"type": "http.response.body", "body": body})
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise  # a refused body's leftovers (client-gone errors) end here


def _origin_of(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}"
    return None


def cross_site_problem(request: Request) -> str | None:
    """Why a cookie-authenticated state change is refused as cross-site; None when it is not."""
    if request.method not in UNSAFE_METHODS:
        return None
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    path = request.url.path
    if SESSION_COOKIE not in request.cookies and path not in FORM_PATHS:
        return None
    origin = _origin_of(request)
    host = (request.headers.get("host") or "").lower()
    if origin is None:
        if path in FORM_PATHS:
            return None
        return "cross-site request refused: the request names no Origin or Referer"
    if urlsplit(origin).netloc.lower() != host:
        return f"cross-site request refused: it comes from {origin}, not from this station"
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if path not in FORM_PATHS and ctype in SIMPLE_TYPES:
        return f"cross-site request refused: {ctype} is not accepted here; send JSON"
    return None
