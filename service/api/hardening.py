"""What every request and response goes through, whatever the route: body size limits, JSON bodies that are valid
Unicode and not nested absurdly deep, validation errors that do not echo huge inputs, security headers, and the
per-client rate limit on model work (service.core.ratelimit)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines import jsontext
from service.core.ratelimit import ModelRateLimit
from service.core.schemas import ERROR_MEANINGS, ErrorPublic, InvalidPublic
from service.core.settings import Settings

MAX_ECHO_CHARS = 200  # a validation error's `input` longer than this (as JSON) is cut
SECURITY_HEADERS = {
    # The desk and /docs load only this server's scripts, styles and images: no inline script, no other host.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def install(app: FastAPI) -> None:
    """Add the body limits and checks, the security headers, the short validation errors and the model rate limit
    (its settings from the app's runtime)."""
    settings: Settings = app.state.runtime.settings
    app.state.model_rate_limit = ModelRateLimit(settings.model_rate_per_minute)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(
        RequestGuard, json_bytes=_bytes(settings.max_json_mb), upload_bytes=_bytes(settings.max_upload_mb)
    )
    app.add_middleware(SecurityHeaders)
    _document_common_errors(app)


def _document_common_errors(app: FastAPI) -> None:
    """Declare in the OpenAPI schema what every route can answer, for routes that do not say so themselves: 413 for a
    body over its limit, and 422 bodies as InvalidPublic (a list of issues, or a sentence)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorPublic, InvalidPublic):
            for name, definition in _component_schemas(model).items():
                components.setdefault(name, definition)
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation and "413" not in responses:
                    responses["413"] = _response(ErrorPublic, ERROR_MEANINGS[413])
                if "422" in responses:
                    responses["422"] = _response(InvalidPublic, ERROR_MEANINGS[422])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema and those of the models it uses, as OpenAPI components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    return {model.__name__: schema, **schema.pop("$defs", {})}


def _response(model: type[BaseModel], description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _bytes(megabytes: float) -> int:
    return int(megabytes * 1_000_000)


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its limit; FastAPI answers it as it does any HTTPException."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the request body is larger than {limit / 1_000_000:g} MB (the limit is {setting})")


class RequestGuard:
    """Refuse a body over its limit (uploads: REFINERY_MAX_UPLOAD_MB, anything else: REFINERY_MAX_JSON_MB) with 413
    before reading it: at once by its Content-Length, else as soon as the bytes streamed in pass the limit. A JSON
    body (small by then) is read whole and refused with 422 when it holds a lone surrogate or is nested too deep."""

    def __init__(self, app: ASGIApp, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").lower()
        upload = content_type.startswith("multipart/")
        limit, setting = (
            (self.upload_bytes, "REFINERY_MAX_UPLOAD_MB") if upload else (self.json_bytes, "REFINERY_MAX_JSON_MB")
        )
        too_large = BodyTooLarge(limit, setting)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(scope, receive, send, 413, too_large.detail)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > limit:
                raise too_large
            return message

        try:
            if "json" in content_type:
                body, replay = await _read_whole(counted)
                problem = _json_problem(body)
                if problem is not None:
                    issue = {"type": "value_error", "loc": ["body"], "msg": problem, "input": None}
                    await _answer(scope, receive, send, 422, [issue])
                    return
                await self.app(scope, replay, send)
            else:
                await self.app(scope, counted, send)
        except BodyTooLarge as exc:  # when no route was there to answer it (FastAPI answers it when it reads the body)
            await _answer(scope, receive, send, 413, exc.detail)


async def _read_whole(receive: Receive) -> tuple[bytes, Receive]:
    """The body, and a `receive` that gives it again (then whatever the client sends next, e.g. a disconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _json_problem(body: bytes) -> str | None:
    """Why a JSON body is refused (not Unicode text, nested too deep), or None (malformed JSON: FastAPI says so)."""
    if not body:
        return None
    try:
        jsontext.loads(body)
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 text (byte {exc.start}): JSON must be valid Unicode"
    except jsontext.JSONRefused as exc:
        return str(exc)
    except ValueError:
        return None
    return None


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: Any) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with each `input` longer than MAX_ECHO_CHARS (as JSON) cut, so a huge body is not sent back."""
    issues = []
    for error in exc.errors():
        issue = {key: error[key] for key in ("type", "loc", "msg", "input", "ctx") if key in error}
        if "input" in issue:
            issue["input"] = _short(issue["input"])
        if "ctx" in issue:
            issue["ctx"] = {key: _short(value) for key, value in issue["ctx"].items()}
        issues.append(issue)
    return JSONResponse({"detail": issues}, status_code=422)


def _short(value: Any) -> Any:
    """`value` if its JSON is short, else the start of that JSON as a string, with how long it was."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= MAX_ECHO_CHARS:
        return value if isinstance(value, str | int | float | bool | type(None)) else json.loads(text)
    return f"{text[:MAX_ECHO_CHARS]}... ({len(text):,} characters)"


class SecurityHeaders:
    """SECURITY_HEADERS on every response (a route that sets one of them keeps its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
