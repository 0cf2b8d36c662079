"""A webhook receiver for the tests: a real HTTP server on loopback that records what it gets and
verifies signatures the way docs/api.md tells customers to."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth.models import Permission


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """The receiver's check of Portal-Signature (as in docs/api.md): HMAC-SHA-256 of "<t>.<body>"."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - timestamp) <= tolerance


class Receiver:
    """Records every request; answers 500 to the first `fail_first[event type]` requests of that event."""

    def __init__(self, fail_first: dict[str, int] | None = None, status: int = 200, tls=None):
        self.requests: list[dict] = []
        self.fail_first = dict(fail_first or {})
        self.status = status
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = self.headers.get("Portal-Event", "")
                with receiver.lock:
                    if receiver.fail_first.get(event, 0) > 0:
                        receiver.fail_first[event] -= 1
                        status = 500
                    else:
                        status = receiver.status
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "status": status, "path": self.path}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme, self.host = "http", "127.0.0.1"
        if tls:  # (certificate file, key file): HTTPS under the certificate's name
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme, self.host = "https", "localhost"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.server.server_address[1]}/hooks/work-visits"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def succeeded(self) -> list[dict]:
        """The requests answered 2xx, each with its JSON body."""
        return [{**r, "json": json.loads(r["body"])} for r in self.received() if r["status"] < 300]


def make_webhook_admin(user):
    """Give `user` the permission to manage the organization's webhook endpoints (an organization admin)."""
    user.user_permissions.add(Permission.objects.get(codename="manage_org_webhooks"))
    return type(user).objects.get(pk=user.pk)  # a fresh object: the permission cache is per instance
