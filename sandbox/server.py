"""A threaded stdlib WSGI server around the sandbox's Django application, able to drop a connection."""

from __future__ import annotations

import logging
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .middleware import DROP_KEY

logger = logging.getLogger(__name__)


class ResponseGate:
    """The response stream of one connection; once dropped, whatever is written goes nowhere."""

    def __init__(self, stream):
        self.stream = stream
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True

    def write(self, data):
        if self.dropped:
            return len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        if not self.dropped:
            self.stream.flush()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def close(self) -> None:
        self.stream.close()


class SandboxRequestHandler(WSGIRequestHandler):
    """One request per connection; the application may ask for the connection to close unanswered."""

    def setup(self):
        super().setup()
        self.gate = ResponseGate(self.wfile)
        self.wfile = self.gate

    def get_environ(self):
        environ = super().get_environ()
        environ[DROP_KEY] = self.gate.drop
        return environ

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        logger.debug("%s " + format, self.address_string(), *args)


class SandboxServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Many callers at once (a worker pool with dozens of threads) must queue, not be refused.
    request_queue_size = 256


def serve(host: str, port: int, application) -> SandboxServer:
    """A server bound to host:port (0: a free port); call serve_forever() on it."""
    return make_server(host, port, application, server_class=SandboxServer, handler_class=SandboxRequestHandler)
