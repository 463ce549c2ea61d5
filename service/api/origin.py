"""Refuse state-changing requests from other websites, in every mode (accounts on or off, loopback too): a page on
another origin can make the user's own browser send a POST to localhost (a `no-cors` fetch needs no body and no
content type). Browsers name the page's origin in `Origin` (and `Sec-Fetch-Site`); scripts and the CLI send
neither, so they pass. The Host header is checked by Starlette's TrustedHostMiddleware (DNS rebinding)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SameOriginMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: list[str] = ()) -> None:  # type: ignore[assignment]
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            why = self.refusal(Headers(scope=scope))
            if why:
                body = json.dumps({"detail": why}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Headers) -> str | None:
        """Why a state-changing request is refused; None when it comes from this service's own pages or no page."""
        origin = headers.get("origin")
        if origin is not None:
            host = headers.get("host", "").lower()
            if origin.lower().rstrip("/") in self.allowed or (
                origin != "null" and urlsplit(origin).netloc.lower() == host
            ):
                return None
            return f"refused: a request from another website ({origin}) may not change anything here"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"refused: a request from another website (Sec-Fetch-Site: {site}) may not change anything here"
        return None
