"""The explorer's web app: one page, its fixed assets, and a JSON API over a :class:`Session`.

Routes (every answer is JSON except the page and its assets; an error is ``{"error": "<what> (<hint>)"}``)::

    GET  /              the page                      GET  /info    run, latent dimensions, plane, view context
    GET  /app.js        the page's script             GET  /map     the held-out examples' plane coordinates
    GET  /style.css     its style sheet               POST /decode  {"z": [[...]]} -> {"x": [...]}
    GET  /view.js       the modality's view script    POST /encode  {"index": i} or {"x": [...]}
                                                      POST /sample  {"n": 1, "temperature": 1}
                                                      POST /interpolate {"z0", "z1", "t" or "steps", "method"}

Nothing in a request names a file: the assets are read once, from the package, into memory. A bad request gets
a 4xx answer and the server goes on serving. Model calls run one at a time on one worker thread, so the event
loop stays free and the model is never used from two threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vaekit.errors import VaekitError
from vaekit.server.requests import DecodeBody, EncodeBody, InterpolateBody, SampleBody, parse
from vaekit.server.session import RequestError, Session

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # bytes: MAX_ROWS images of 28 x 28 as JSON fit with room to spare
# what the page may load: itself only (no CDN, no inline script), pictures it draws, audio it synthesises
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "media-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def _assets(session: Session) -> dict[str, tuple[bytes, str]]:
    """The fixed set of files the page is made of: path -> (bytes, content type)."""
    static = files("vaekit.server").joinpath("static")
    return {
        "/": (static.joinpath("index.html").read_bytes(), "text/html; charset=utf-8"),
        "/app.js": (static.joinpath("app.js").read_bytes(), "text/javascript; charset=utf-8"),
        "/style.css": (static.joinpath("style.css").read_bytes(), "text/css; charset=utf-8"),
        "/view.js": (session.modality.view_script().encode(), "text/javascript; charset=utf-8"),
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


async def _body(request: Request) -> Any:
    """The request's JSON body, at most :data:`MAX_BODY` bytes (read in chunks, so a liar's Content-Length or a
    chunked upload cannot make it hold more)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"the body is larger than {MAX_BODY // 2**20} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"the body is larger than {MAX_BODY // 2**20} MiB")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(f"the body is not JSON ({err})") from None


class _HostCheck:
    """Answer 400 to a request whose Host header names another machine than the one served (a web page on the
    internet can point a name of its own at 127.0.0.1, "DNS rebinding"; its requests then carry that name)."""

    def __init__(self, app: Any, hosts: frozenset[str] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            try:
                name = urlsplit(f"//{host}").hostname or ""
            except ValueError:
                name = ""
            if name not in self.hosts:
                await _error(400, f"unknown host {host!r}")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(session: Session, *, hosts: frozenset[str] | None = LOOPBACK_NAMES) -> Any:
    """The explorer's ASGI app over ``session``. ``hosts``: the Host names it answers (None: any; serving on
    another address than the loopback, any name can reach it)."""
    assets = _assets(session)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaekit-explore")
    cached = {"info": session.info(), "map": session.map()}

    def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
        t0 = time.perf_counter()
        return fn(), (time.perf_counter() - t0) * 1000

    async def compute(fn: Callable[[], Any]) -> JSONResponse:
        """``fn()`` on the worker thread; its own time (not the wait for the worker) in ``Server-Timing``."""
        try:
            result, ms = await asyncio.get_running_loop().run_in_executor(worker, timed, fn)
        except VaekitError as err:  # RequestError, or a library check (a label out of range, ...)
            return _error(400, str(err))
        except Exception as err:  # a bug: say so, log it, and go on serving
            log.exception("the explorer failed to answer a request")
            return _error(500, f"internal error ({type(err).__name__}); the server goes on serving")
        return JSONResponse(result, headers={**HEADERS, "Server-Timing": f"model;dur={ms:.2f}"})

    def asset(path: str) -> Callable:
        content, media_type = assets[path]

        async def endpoint(request: Request) -> Response:
            return Response(content, media_type=media_type, headers=HEADERS)

        return endpoint

    def answer(name: str) -> Callable:
        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(cached[name], headers=HEADERS)

        return endpoint

    async def decode(request: Request) -> JSONResponse:
        body = parse(DecodeBody, await _body(request))
        return await compute(lambda: session.decode(body.z, body.y))

    async def encode(request: Request) -> JSONResponse:
        body = parse(EncodeBody, await _body(request))
        if (body.index is None) == (body.x is None):
            raise RequestError("give either index (an example of the map) or x (examples)")
        if body.index is not None:
            if body.y is not None:
                raise RequestError("an example of the map has its own label", "leave out y")
            return await compute(lambda: session.example(body.index))
        return await compute(lambda: session.encode(body.x, body.y))

    async def sample(request: Request) -> JSONResponse:
        body = parse(SampleBody, await _body(request))
        return await compute(lambda: session.sample(body.n, body.temperature, body.seed, body.y))

    async def interpolate(request: Request) -> JSONResponse:
        body = parse(InterpolateBody, await _body(request))
        return await compute(
            lambda: session.interpolate(body.z0, body.z1, t=body.t, steps=body.steps, method=body.method, y=body.y)
        )

    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, err.detail)

    async def request_error(request: Request, err: Exception) -> JSONResponse:
        return _error(400, str(err))

    async def server_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("the explorer failed to answer %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(err).__name__}): the server goes on serving")

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        worker.shutdown(wait=False, cancel_futures=True)

    routes = [Route(path, asset(path), methods=["GET"]) for path in assets]
    routes += [Route("/info", answer("info"), methods=["GET"]), Route("/map", answer("map"), methods=["GET"])]
    routes += [
        Route("/decode", decode, methods=["POST"]),
        Route("/encode", encode, methods=["POST"]),
        Route("/sample", sample, methods=["POST"]),
        Route("/interpolate", interpolate, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, RequestError: request_error, Exception: server_error},
        lifespan=lifespan,
    )
    return _HostCheck(app, hosts)
