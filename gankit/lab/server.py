"""The lab's web layer (Starlette + uvicorn): it serves the page, serializes the session's
frames and forwards the controls; it trains nothing itself.

    GET  /                 the page (gankit/lab/static, no network needed)
    GET  /api/state        the newest frame as JSON (``step``, ``objective``, ``data``, ...)
    GET  /api/options      the choices the page offers (registry names, defaults)
    GET  /api/events       Server-Sent Events: one ``data:`` line of frame JSON per update;
                           training runs while at least one page listens
    POST /api/control      {"action": "play" | "pause" | "step" | "reset" | "speed", "speed": n, "steps": n}
    POST /api/config       {settings}: restart with new settings (400 {"error": ...} if bad)
    POST /api/save         {"out": DIR?, "more_steps": n?}: write a resumable run folder

Every refusal is ``400 {"error": "<one line>"}``: the page shows it and keeps running.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sys
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gankit.errors import GankitError
from gankit.lab import settings as S
from gankit.lab.session import LabSession

STATIC = Path(__file__).parent / "static"
POLL_S = 0.05  # how often an event stream looks for a new frame
KEEPALIVE_S = 10.0


def _error(e: Exception) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=400)


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise GankitError(f"the request body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise GankitError("the request body must be a JSON object")
    return body


def create_app(session: LabSession) -> Starlette:
    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def state(request: Request) -> Response:
        return Response(session.frame_json, media_type="application/json")

    async def options(request: Request) -> Response:
        return JSONResponse(S.options())

    async def events(request: Request) -> Response:
        try:  # frames to send; 0: until the server stops
            limit = int(request.query_params.get("limit", "0") or 0)
        except ValueError:
            return _error(GankitError("limit: expected a number of frames"))

        async def stream():
            session.subscribe()
            try:
                seq, sent, quiet = -1, 0, time.monotonic()
                while not session.closed:
                    if session.frame_seq != seq:
                        seq = session.frame_seq
                        yield f"data: {session.frame_json}\n\n"
                        sent, quiet = sent + 1, time.monotonic()
                        if limit and sent >= limit:
                            return
                    elif time.monotonic() - quiet > KEEPALIVE_S:
                        yield ": keep-alive\n\n"
                        quiet = time.monotonic()
                    await asyncio.sleep(POLL_S)
            finally:
                session.unsubscribe()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    def handler(work):
        async def endpoint(request: Request) -> Response:
            try:
                body = await _body(request)
                return JSONResponse(await run_in_threadpool(work, body))
            except GankitError as e:
                return _error(e)

        return endpoint

    def control(body):
        return _summary(session.control(str(body.get("action", "")), body.get("speed"), body.get("steps", 1)))

    def configure(body):
        return _summary(session.configure(body))

    def save(body):
        return session.save(body.get("out") or None, int(body.get("more_steps", 2000)))

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/options", options),
        Route("/api/events", events),
        Route("/api/control", handler(control), methods=["POST"]),
        Route("/api/config", handler(configure), methods=["POST"]),
        Route("/api/save", handler(save), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def _summary(frame: dict) -> dict:
    """A control's answer: the frame's small fields (the full frame comes by the event stream)."""
    keep = ("session", "step", "objective", "data", "recipe", "settings", "playing", "speed", "error")
    return {k: frame.get(k) for k in keep}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A bound listening socket, or GankitError naming the address and the fix."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        raise GankitError(
            f"cannot listen on {host}:{port}: {e.strerror or e}; choose another --port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(session: LabSession, host: str, port: int, open_browser: bool = False) -> None:
    """Serve until Ctrl-C (or SIGTERM): the event streams end, the training thread stops."""
    import uvicorn

    sock = listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            session.closed = True  # the open event streams end, so the server stops at once
            super().handle_exit(sig, frame)

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            print(f"gankit lab: {url}  (Ctrl-C stops)", flush=True)
            if open_browser:
                import webbrowser

                webbrowser.open(url)

    config = uvicorn.Config(
        create_app(session), log_level="warning", timeout_graceful_shutdown=3, lifespan="off"
    )
    server = Server(config)
    session.start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the captured Ctrl-C again once it has stopped
        pass
    finally:
        session.close()
        sock.close()
    print("gankit lab: stopped", file=sys.stderr, flush=True)
