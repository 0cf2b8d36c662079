"""An upstream answered by a function in the test process (httpx.MockTransport), for the answers the sandbox
does not give (a create answered 200, an Order History item without its orderNumber...)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from workvisits.upstream import client

BASE_URL = "http://upstream.test"


class MockUpstream:
    """Every call but the token's is answered by `answer(request)`; the requests are kept in `requests`."""

    def __init__(self, monkeypatch, settings, answer: Callable[[httpx.Request], httpx.Response]):
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.http = httpx.Client(transport=httpx.MockTransport(self._handle))
        monkeypatch.setattr(client, "_http", lambda: self.http)
        settings.UPSTREAM_BASE_URL = BASE_URL

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == client.TOKEN:
            return httpx.Response(200, json={"access_token": "t0k3n", "token_timeout": "3599"})
        return self.answer(request)

    def calls(self, method: str, path: str) -> list[dict | None]:
        """The JSON bodies of the requests to `method path`."""
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if r.method == method and r.url.path == path
        ]
