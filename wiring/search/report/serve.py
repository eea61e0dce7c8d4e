"""A live report: an HTTP server on 127.0.0.1 whose page is regenerated whenever the source changes.

``GET /`` answers the report (:func:`~wiring.search.report.render` with ``live=``), regenerated when the
source's :func:`~wiring.search.report.sources.stamp` (modification time and size of the file and its SQLite
journal) differs from the last page's, else the last page again; ``GET /stamp`` answers the current stamp, which
the page polls to reload itself, so it shows trials as they land. A source that cannot be read yet (a storage
not created, a damaged file) gets a one-line error page that keeps polling. The server listens on the loopback
interface only.
"""

from __future__ import annotations

import os
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generators.checks import positive_int

from ..strategy import SearchError
from .sources import stamp

HOST = "127.0.0.1"


class ReportServer:
    """Serve the report of ``source`` on ``127.0.0.1:port`` (``port=0``: a free one; see :attr:`url`).

    Use :meth:`serve_forever` (until :meth:`shutdown` or Ctrl-C), or ``with ReportServer(...) as server`` and
    :meth:`start` to serve from a background thread."""

    def __init__(self, source: str | os.PathLike[str], *, port: int = 0, space: Any = None, top: int = 3) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise SearchError(f"port must be an int in 0..65535 (0: a free port), got port={port!r}")
        positive_int("top", top, error=SearchError)
        if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
            raise SearchError(f"a report's source must be a file or folder path, got {source!r}")
        self.source, self.space, self.top = Path(os.fsdecode(source)), space, top
        self._lock = threading.Lock()
        self._page: tuple[str, bytes, int] | None = None  # (stamp, body, status)
        self._drawings: dict[str, bytes | str] = {}
        self._thread: threading.Thread | None = None
        self.renders = 0
        """How many times the page was generated (a test's window on the caching)."""
        try:
            self.httpd = _Server((HOST, port), _handler(self))
        except OSError as error:
            raise SearchError(f"cannot serve on {HOST}:{port}: {error.strerror or error}") from None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def page(self) -> tuple[bytes, int]:
        """The current page (regenerated if the source changed since the last) and its HTTP status."""
        from . import error_page, render

        with self._lock:
            now = stamp(self.source)
            if self._page is None or self._page[0] != now:
                try:
                    text, status = render(self.source, space=self.space, top=self.top, live=now,
                                          drawings=self._drawings), 200
                except (ValueError, OSError) as error:  # SearchError and the library's others are ValueErrors
                    text, status = error_page(self.source, error, live=now), 503
                self._page = (now, text.encode("utf-8"), status)
                self.renders += 1
            return self._page[1], self._page[2]

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread) or KeyboardInterrupt (which propagates)."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def start(self) -> ReportServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="wiring-report", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving (from another thread than :meth:`serve_forever`'s) and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        else:
            self.httpd.server_close()

    def __enter__(self) -> ReportServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a browser that left mid-answer
            return
        super().handle_error(request, client_address)


def _handler(server: ReportServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "wiring-report"

        def do_GET(self) -> None:  # noqa: N802 -- http.server's name
            route = self.path.split("?", 1)[0]
            if route in ("/", "/index.html", "/report.html"):
                body, status = server.page()
                self._send(status, body, "text/html; charset=utf-8")
            elif route == "/stamp":
                self._send(200, stamp(server.source).encode("utf-8"), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: the report is at /\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(HTTPStatus(status))
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- quiet: the CLI prints its URL
            pass

    return Handler
