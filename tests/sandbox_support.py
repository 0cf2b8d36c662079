"""The sandbox upstream as a real process for tests: start it, steer it through its control API, stop it.

Use the ``sandbox_process`` fixture (one process per test session and module that imports it, reset
before every test) or ``SandboxProcess()`` directly.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
CREATE = "POST /colocations/v2/orders/workVisits"
WORK_VISITS = "/colocations/v2/orders/workVisits"
CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"
READY = re.compile(r"sandbox listening on (http://\S+)")
# One TLS context for every client made here: httpx builds one per client otherwise, which is slow,
# and the sandbox speaks plain HTTP anyway.
TLS = ssl.create_default_context()


class SandboxProcess:
    """``python -m sandbox`` on a free port, with its control API as methods."""

    def __init__(
        self,
        *,
        data: str | None = None,
        env: dict | None = None,
        startup_seconds: float = 30.0,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.log = tempfile.NamedTemporaryFile(prefix="sandbox-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", "0"]
        if data:
            command += ["--data", data]
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SANDBOX_CLIENT_ID": client_id, "SANDBOX_CLIENT_SECRET": client_secret, **(env or {})},
        )
        try:
            self.url = self._wait_ready(startup_seconds)
        except BaseException:
            self.stop()
            raise
        self.control = httpx.Client(base_url=self.url, timeout=30, verify=TLS)

    def _wait_ready(self, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}:\n{self.output()}")
            found = READY.search(self.output())
            if found:
                try:
                    httpx.get(f"{found.group(1)}/_sandbox/clock", timeout=2, verify=TLS).raise_for_status()
                    return found.group(1)
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)  # polling for readiness, bounded by the deadline
        raise RuntimeError(f"the sandbox was not ready within {seconds} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    # -- the control API -----------------------------------------------------------------------
    def _post(self, path: str, body: dict | None = None) -> httpx.Response:
        response = self.control.post(path, json=body or {})
        response.raise_for_status()
        return response

    def fault(self, kind: str, count: int = 1, match: str = CREATE, **extra) -> dict:
        """Inject a fault: "503" "429" "500" "501" "502" "504" "408" "400" "drop" or "slow" (see docs/operations.md)."""
        return self._post("/_sandbox/faults", {"kind": kind, "count": count, "match": match, **extra}).json()

    def clear_faults(self) -> None:
        self.control.delete("/_sandbox/faults").raise_for_status()

    def settings(self, **changes) -> dict:
        """latency, nosearch, statusStepSeconds, tokenTimeout."""
        return self._post("/_sandbox/settings", changes).json()

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock forward; returns its new time."""
        return parse_time(self._post("/_sandbox/advance", {"seconds": seconds}).json()["now"])

    def now(self) -> datetime:
        return parse_time(self.control.get("/_sandbox/clock").json()["now"])

    def state(self) -> dict:
        response = self.control.get("/_sandbox/state")
        response.raise_for_status()
        return response.json()

    def orders(self) -> list[dict]:
        return self.state()["orders"]

    def requests(self, method: str | None = None, path_prefix: str | None = None) -> list[dict]:
        return [
            r
            for r in self.state()["requests"]
            if (method is None or r["method"] == method) and (path_prefix is None or r["path"].startswith(path_prefix))
        ]

    def creates(self) -> list[dict]:
        """Every create call the sandbox saw, answered or not."""
        return [r for r in self.requests("POST") if r["path"] == WORK_VISITS]

    def reset(self) -> None:
        self._post("/_sandbox/reset")

    def expire_tokens(self) -> None:
        self._post("/_sandbox/expire-tokens")

    def set_status(self, order_id: str, status: str) -> dict:
        return self._post(f"/_sandbox/orders/{order_id}/status", {"status": status}).json()

    def wait_for(self, condition, seconds: float = 60.0, what: str = "the condition"):
        """Poll ``condition()`` until it returns something truthy (returned) or the deadline passes."""
        deadline = time.monotonic() + seconds
        while True:
            found = condition()
            if found:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} did not happen within {seconds} s")
            time.sleep(0.05)  # polling a condition, bounded by the deadline

    # -- calling it as the upstream ------------------------------------------------------------
    def token(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        response = self.control.post(
            "/oauth2/v1/token",
            json={
                "client_id": client_id or self.client_id,
                "client_secret": client_secret or self.client_secret,
                "grant_type": "client_credentials",
            },
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, **credentials) -> httpx.Client:
        """An httpx client that calls the sandbox as the upstream, with a fresh token."""
        return httpx.Client(
            base_url=self.url, timeout=30, verify=TLS, headers={"authorization": f"Bearer {self.token(**credentials)}"}
        )

    def stop(self) -> None:
        if getattr(self, "control", None) is not None:
            self.control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visit_body(start: datetime | None = None, hours: int = 4, *, visitor: str = "acme_technician", **overrides) -> dict:
    """A create body for Acme's cage in DC2 with one registered visitor, starting tomorrow unless told."""
    start = start or (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    body = {
        "description": "Replace a failed power supply in cabinet 0101.",
        "customerReferenceId": "ACME-4711",
        "details": {
            "cages": [{"id": "DC2:01:123456", "accountNumber": "1234567890", "cabinetId": "DC2:01:123456:0101"}],
            "openCabinet": False,
            "visitStartDateTime": wire_time(start),
            "visitEndDateTime": wire_time(start + timedelta(hours=hours)),
            "visitors": [{"registeredUsers": [visitor]}],
        },
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxProcess()
    yield server
    server.stop()


@pytest.fixture
def sandbox_process(sandbox_server):
    """The session's sandbox, forgotten back to its start (orders, faults, settings, clock) for this test."""
    sandbox_server.reset()
    return sandbox_server
