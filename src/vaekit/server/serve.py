"""Start and stop the explorer: a port bound first, then uvicorn serving the app on a background thread.

::

    explorer = vaekit.explore("runs/digits")     # returns once the page answers
    print(explorer.url)                           # http://127.0.0.1:PORT/
    explorer.stop()

    with vaekit.explore(run, port=8765) as explorer:   # stops when the block ends
        ...

The port is bound before the model and data are loaded, so a port in use is an error at once, and nobody can
take it meanwhile; uvicorn then serves on that very socket.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
import time
import webbrowser
from typing import Any

from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.server.session import MAP_LIMIT, Session

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` serves this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); a :class:`VaekitError` saying why not."""
    if not 0 <= port <= 65535:
        raise VaekitError(f"port {port} is outside 0..65535", "the default is 8765; 0 picks any free port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise VaekitError(
            f"cannot serve on host {host!r} ({err})", "give an address of this machine, e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # a port freed a moment ago (TIME_WAIT) can be taken again; one in use still cannot
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise VaekitError(
                f"port {port} on {host} is in use", "give another with --port, or --port 0 for any free one"
            ) from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise VaekitError(f"not allowed to serve on port {port}", "ports below 1024 need privileges") from None
        raise VaekitError(f"cannot serve on {host}:{port} ({err.strerror or err})", "check --host") from None
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    """The address a browser on this machine opens (a wildcard address is reached through the loopback)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}/"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://[{address}]:{port}/" if address.version == 6 else f"http://{address}:{port}/"


class Explorer:
    """A running explorer: its :attr:`url`, :meth:`stop`, :meth:`wait`; a context manager that stops it.

    uvicorn serves on a daemon thread, so the interpreter (a notebook, a script) stays free, and an explorer
    that is never stopped does not keep the process alive."""

    def __init__(self, app: Any, sock: socket.socket, host: str, session: Session):
        import uvicorn

        self.session = session
        self.host = host
        self.port = int(sock.getsockname()[1])
        self.url = _url(host, self.port)
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,  # the caller's logging stays as it is; uvicorn's loggers propagate to it
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="vaekit-explore-server", daemon=True)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as err:  # reported by start() and wait()
            self._failure = err

    def start(self) -> Explorer:
        """Serve; returns once the server answers (an error if it could not start)."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise VaekitError(f"the explorer did not start ({self._failure or 'timed out'})")
            time.sleep(0.01)
        log.info("exploring %s at %s", self.session.run.path, self.url)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C reaches the caller as ``KeyboardInterrupt``)."""
        while self._thread.is_alive():
            self._thread.join(0.25)
        if self._failure is not None:
            raise VaekitError(f"the explorer stopped ({self._failure})")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and free the port (safe to call twice)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Explorer({self.url!r}, run={str(self.session.run.path)!r}, {state})"


def explore(
    run: Run | str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    host: str = DEFAULT_HOST,
    port: int = 0,
    limit: int = MAP_LIMIT,
    open_browser: bool = False,
    verify: bool = True,
) -> Explorer:
    """Serve the live latent-space explorer of ``run`` (a :class:`Run` or a run folder) and return the running
    :class:`Explorer` (``.url``, ``.stop()``).

    The page maps up to ``limit`` examples of ``split`` of ``data`` (default: the run's data set; for an
    anomaly detector, the rows to score) by their posterior means. ``port=0`` picks a free port (``vaekit
    explore`` uses 8765); ``host`` other than the loopback exposes the model and the data to the network.
    """
    try:
        import uvicorn  # noqa: F401

        from vaekit.server.app import LOOPBACK_NAMES, create_app
    except ImportError as err:
        raise VaekitError(
            f"the explorer needs starlette and uvicorn ({err})", "pip install starlette uvicorn"
        ) from None
    run = run if isinstance(run, Run) else Run.open(run, verify=verify)
    sock = bind(host, port)
    try:
        session = Session(run, data=data, data_dir=data_dir, split=split, limit=limit)
        app = create_app(session, hosts=LOOPBACK_NAMES | {host} if is_loopback(host) else None)
        explorer = Explorer(app, sock, host, session).start()
    except BaseException:
        sock.close()
        raise
    if open_browser:
        webbrowser.open(explorer.url)
    return explorer
