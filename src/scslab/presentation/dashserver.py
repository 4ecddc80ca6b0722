"""Serving the dashboard (`scslab.presentation.dashboard`) to this machine only.

`serve` runs Solara's server on 127.0.0.1:PORT behind `LocalOnly`. What a browser sends
is not trusted: the server answers only requests addressed to 127.0.0.1:PORT or
localhost:PORT from pages of that origin (a web page on another site cannot drive it, by
DNS rebinding or a cross-site websocket), and disconnected sessions are closed after
`CULL_AFTER_S` seconds, with at most `MAX_SESSIONS` open at once. (Which files the app
opens: `scslab.presentation.dashdata`.)
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scslab.presentation.dashdata import RUNS_ENV, SCENARIOS_ENV

HOST = "127.0.0.1"
"""The only address the server listens on: this machine."""

CULL_AFTER_S = 120
"""Seconds a disconnected session (a closed or unreachable page) keeps its state before it
is closed and its memory returned; a page that reconnects within them carries on."""

MAX_SESSIONS = 8
"""Most sessions (pages, each with its own state of a few MB) open at once; another page
is refused with a message until one is closed or culled."""

SAMESITE_WARNING = r"Cookies with samesite=none require https"
"""Start of the warning Solara's server gives when it serves a page over plain http to an
address other than `localhost`: that it falls back to a SameSite=Lax session cookie, which
is what a dashboard that no other site embeds wants."""

KERNEL_PATH = re.compile(r"^/jupyter/api/kernels/([^/]+)/")
"""Websocket path of a Solara session (its kernel id first)."""


class LocalOnly:
    """ASGI middleware: answer only this machine's pages, and only so many sessions.

    A request whose Host header is not 127.0.0.1:PORT or localhost:PORT (DNS rebinding),
    or that carries an Origin other than http:// and one of those (a page of another site,
    including a cross-site websocket), gets 403; browsers send Origin with every websocket
    and every cross-site request, so a request without one is no other site's. A page or
    websocket that would open a session beyond `max_sessions` gets 503 (a websocket:
    refused). Reconnects of an open session always pass.
    """

    def __init__(
        self,
        app: Any,
        port: int,
        max_sessions: int = MAX_SESSIONS,
        cull_after_s: int = CULL_AFTER_S,
    ) -> None:
        self.app = app
        self.hosts = {f"{HOST}:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.max_sessions = max_sessions
        self.cull_after_s = cull_after_s
        self.connected: Counter[str] = Counter()  # kernel id: its websockets open now

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request on to the app, or refuse it (see the class)."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await _refuse(scope, send, *refusal)
            return
        kernel = _kernel_id(scope)
        if kernel is None:
            await self.app(scope, receive, send)
            return
        self.connected[kernel] += 1  # counted from now, before Solara registers it
        try:
            await self.app(scope, receive, send)
        finally:
            self.connected[kernel] -= 1
            if not self.connected[kernel]:
                del self.connected[kernel]

    def sessions(self) -> set[str]:
        """Kernel ids of the sessions open now: held by Solara (connected or not) or
        connecting."""
        return set(_contexts()) | set(self.connected)

    def refusal(self, scope: Mapping[str, Any]) -> tuple[int, str] | None:
        """(HTTP status, message) when the request is refused, else None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host, origin = headers.get("host", "").lower(), headers.get("origin")
        if host not in self.hosts:
            allowed = " and ".join(sorted(self.hosts))
            return 403, f"refused: Host {host!r}; this dashboard answers only {allowed}"
        if origin is not None and origin not in self.origins:
            return 403, f"refused: a page of {origin!r} may not use this dashboard"
        if self.opens_session(scope) and len(self.sessions()) >= self.max_sessions:
            return 503, (
                f"The dashboard has {self.max_sessions} sessions open, the most it keeps: "
                f"close another of its tabs, or wait up to {self.cull_after_s} s for "
                "disconnected ones to be closed, then reload."
            )
        return None

    def opens_session(self, scope: Mapping[str, Any]) -> bool:
        """Whether the request opens a new session: the page itself, or a websocket for a
        kernel the server does not hold."""
        if scope["type"] == "http":
            return bool(scope["path"] == "/")
        kernel = _kernel_id(scope)
        return kernel is not None and kernel not in self.sessions()


def _kernel_id(scope: Mapping[str, Any]) -> str | None:
    """The kernel id of a session's websocket, None for any other request."""
    match = KERNEL_PATH.match(scope["path"]) if scope["type"] == "websocket" else None
    return match.group(1) if match else None


def _contexts() -> Mapping[str, Any]:
    from solara.server import kernel_context

    return kernel_context.contexts


async def _refuse(scope: Mapping[str, Any], send: Any, status: int, message: str) -> None:
    if scope["type"] == "websocket":  # closing before accepting answers 403
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = (message + "\n").encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def configure_solara(cull_after_s: int = CULL_AFTER_S) -> None:
    """Set Solara's server settings for the dashboard (before the server starts).

    Production mode, no telemetry, disconnected sessions closed after `cull_after_s`
    seconds (Solara keeps them 24 hours by default), and Solara's SameSite notice, which
    is about embedding the app in another site's page, not given.
    """
    from solara.server import settings

    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False  # no network calls home
    settings.kernel.cull_timeout = f"{int(cull_after_s)}s"
    warnings.filterwarnings(
        "ignore", message=SAMESITE_WARNING, category=UserWarning, module="solara.server.starlette"
    )


def server_app(
    port: int, max_sessions: int = MAX_SESSIONS, cull_after_s: int = CULL_AFTER_S
) -> LocalOnly:
    """Solara's ASGI app serving the dashboard's Page, behind `LocalOnly`."""
    from scslab.presentation import dashboard  # the app, loaded before Solara's server

    os.environ["SOLARA_APP"] = dashboard.__name__  # read when Solara's server module is imported
    from solara.server import app as solara_apps
    from solara.server.starlette import app

    if "__default__" not in solara_apps.apps:  # imported before SOLARA_APP was set
        solara_apps.apps["__default__"] = solara_apps.AppScript(dashboard.__name__)
    return LocalOnly(app, port, max_sessions, cull_after_s)


def check_port(port: int) -> None:
    """Raise OSError, naming the port, when nothing can listen on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as err:
            raise OSError(
                f"--port {port}: cannot listen on {HOST}:{port} ({err.strerror})"
            ) from err


def serve(
    port: int = 8765,
    runs_dir: Path | str = "runs",
    scenarios: Sequence[Path | str] = (),
    *,
    cull_after_s: int = CULL_AFTER_S,
    max_sessions: int = MAX_SESSIONS,
) -> int:
    """Run the dashboard on 127.0.0.1:port until stopped (Ctrl+C); returns the exit code.

    `runs_dir` is the results folder it browses and writes new runs to; `scenarios` the
    YAML files it may open besides the built-ins; `cull_after_s` the seconds a
    disconnected session is kept; `max_sessions` the most sessions open at once. Raises
    OSError when the port is taken.
    """
    import solara  # noqa: F401  (a clear ImportError when the extra is missing)
    import uvicorn

    check_port(port)
    os.environ[RUNS_ENV] = str(Path(runs_dir).resolve())
    os.environ[SCENARIOS_ENV] = os.pathsep.join(str(Path(p).resolve()) for p in scenarios)
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    configure_solara(cull_after_s)
    app = server_app(port, max_sessions, cull_after_s)
    print(f"scslab dashboard: http://{HOST}:{port} (this machine only; Ctrl+C stops it)")
    uvicorn.run(app, host=HOST, port=port, log_level="error")
    return 0
