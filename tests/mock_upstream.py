"""An upstream on a real loopback HTTP server whose answers a test writes as a function, for the answers the
sandbox does not give (a create answered 200, an Order History item without its orderNumber...)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from workvisits.upstream import client


class MockUpstream:
    """Every call but the token's is answered by `answer(request)`; the requests are kept in `requests`."""

    def __init__(self, settings, answer: Callable[[httpx.Request], httpx.Response]):
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        settings.UPSTREAM_BASE_URL = f"http://127.0.0.1:{self.server.server_address[1]}"  # restored after the test

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = httpx.Request(
                    self.command,
                    f"http://{self.headers.get('Host', 'upstream')}{self.path}",
                    headers=list(self.headers.items()),
                    content=self.rfile.read(length) if length else b"",
                )
                upstream.requests.append(request)
                if request.url.path == client.TOKEN:
                    response = httpx.Response(200, json={"access_token": "t0k3n", "token_timeout": "3599"})
                else:
                    response = upstream.answer(request)
                body = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format, *args):  # noqa: A002 - the base class's signature
                pass

        return Handler

    def calls(self, method: str, path: str) -> list[dict | None]:
        """The JSON bodies of the requests to `method path`."""
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if r.method == method and r.url.path == path
        ]


@pytest.fixture
def mock_upstream(settings):
    """`mock_upstream(answer)` points the portal at a MockUpstream answering with `answer`; stopped after the test."""
    started: list[MockUpstream] = []

    def start(answer: Callable[[httpx.Request], httpx.Response]) -> MockUpstream:
        started.append(MockUpstream(settings, answer))
        return started[-1]

    yield start
    for upstream in started:
        upstream.stop()
