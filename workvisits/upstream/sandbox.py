"""The sandbox upstream: a small, real HTTP server speaking Work Visits v2, with state in memory.

It validates with the portal's own rules module, assigns ``1-NNNNNNNN`` order ids, moves orders
RECEIVED → IN_PROGRESS → CLOSED over time (`step_seconds` per step) and injects faults on demand:

    POST /_sandbox/faults {"kind": "503" | "429" | "slow" | "reject" | "drop", "count": N,
                           "match": "POST /colocations/v2/orders/workVisits", "retryAfter": s,
                           "delay": s, "errors": [...]}

`slow` answers `delay` seconds late (after acting), `drop` acts and closes the connection without
an answer, `reject` answers 400 with `errors` (the upstream's array). `GET /_sandbox/state` shows
the orders and the request log; `POST /_sandbox/reset` forgets everything; `POST
/_sandbox/expire-tokens` makes every issued token invalid. Orders can be found by their
`customerReferenceId`: `GET /colocations/v2/orders?customerReferenceId=...`.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .. import rules

logger = logging.getLogger(__name__)

WORK_VISITS = "/colocations/v2/orders/workVisits"
ORDERS = "/colocations/v2/orders"
MAX_BODY = 12 * 1024 * 1024
REQUEST_LOG_SIZE = 20_000  # the newest requests /_sandbox/state shows


def _error(code: str, info: list[dict] | None = None, message: str | None = None, correlation_id: str = "") -> list:
    return [
        {
            "errorCode": code,
            "errorMessage": message or rules.ERROR_MESSAGES.get(code, "Error"),
            "correlationId": correlation_id,
            "additionalInfo": info or [],
        }
    ]


def _rule_errors(errors: list[rules.RuleError], correlation_id: str) -> list:
    grouped: dict[str, list[dict]] = {}
    for e in errors:
        grouped.setdefault(e.code, []).append({"property": e.path, "reason": e.message})
    return [
        {
            "errorCode": code,
            "errorMessage": rules.ERROR_MESSAGES.get(code, "Error"),
            "correlationId": correlation_id,
            "additionalInfo": info,
        }
        for code, info in grouped.items()
    ]


def _usernames(value) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "registeredUsers" and isinstance(item, list):
                found.update(u for u in item if isinstance(u, str))
            else:
                found |= _usernames(item)
    elif isinstance(value, list):
        for item in value:
            found |= _usernames(item)
    return found


def _default_catalogue() -> list[dict]:
    """The demo locations, in the shape GET /colocations/v2/locations answers."""
    try:
        from ..management.commands.seed_demo import CATALOGUE, IBXS
    except Exception:  # run without Django: an empty catalogue
        return []
    data = []
    for code, name, zone in IBXS:
        cages = []
        for catalogue in CATALOGUE.values():
            accounts = {n: (name_, hold, po) for n, name_, hold, po in catalogue["accounts"]}
            for cage_id, ibx_code, numbers, cabinets in catalogue["cages"]:
                if ibx_code != code:
                    continue
                cages.append(
                    {
                        "cage": cage_id,
                        "cageType": "CAGE",
                        "accounts": [
                            {
                                "accountNumber": n,
                                "accountName": accounts[n][0],
                                "isCreditHold": accounts[n][1],
                                "isPOBearing": accounts[n][2],
                                "cabinets": [
                                    {"cabinet": cab, "cabinetType": "CABINET"} for cab, acct in cabinets if acct == n
                                ],
                            }
                            for n in numbers
                        ],
                    }
                )
        data.append({"ibx": code, "name": name, "timezone": zone, "cages": cages})
    return data


class SandboxState:
    """Everything the sandbox knows, guarded by one lock."""

    def __init__(self, *, client_id: str, client_secret: str, step_seconds: float, token_timeout: int):
        self.client_id = client_id
        self.client_secret = client_secret
        self.step_seconds = step_seconds
        self.token_timeout = token_timeout
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, tuple[str, float]] = {}
        self.orders: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}
        self.faults: list[dict] = []
        self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
        # A random start: a restarted sandbox must not hand out the ids of orders the portal already holds.
        self._ids = itertools.count(secrets.randbelow(80_000_000) + 10_000_000)
        self.catalogue: list[dict] | None = None

    def new_order_id(self) -> str:
        return f"1-{next(self._ids):08d}"

    def status_of(self, order: dict) -> str:
        if order["status"] == "CANCELLED":
            return "CANCELLED"
        if self.step_seconds <= 0:
            return order["status"]
        steps = int((time.monotonic() - order["_created"]) / self.step_seconds)
        return ("RECEIVED", "IN_PROGRESS", "CLOSED")[min(steps, 2)]

    def public(self, order: dict) -> dict:
        view = {k: v for k, v in order.items() if not k.startswith("_")}
        view["status"] = self.status_of(order)
        view["cancellable"] = view["modifiable"] = view["status"] not in ("CANCELLED", "CLOSED")
        return view

    def take_fault(self, method: str, path: str) -> dict | None:
        with self.lock:
            for fault in self.faults:
                match = fault.get("match") or "/colocations"
                target = f"{method} {path}" if " " in match else path
                if target.startswith(match) and fault["remaining"] > 0:
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self.faults.remove(fault)
                    return dict(fault)
        return None


class _Handler(BaseHTTPRequestHandler):
    server_version = "WorkVisitsSandbox/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    state: SandboxState  # set on the subclass made by make_server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        logger.debug("sandbox: " + format, *args)

    # -- plumbing ----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length else b""

    def _json_body(self):
        raw = self._body()
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return ValueError

    def _reply(self, status: int, body=None, headers: dict | None = None) -> tuple:
        return status, body, headers or {}

    def _send(self, status: int, body, headers: dict) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Correlation-ID", self.correlation_id)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        self.correlation_id = self.headers.get("X-Correlation-ID") or uuid.uuid4().hex
        state = self.state
        fault = None if path.startswith("/_sandbox") else state.take_fault(method, path)
        entry = {
            "time": time.time(),
            "method": method,
            "path": path,
            "query": url.query,
            "authorization": bool(self.headers.get("Authorization")),
            "fault": fault["kind"] if fault else None,
        }
        with state.lock:
            state.requests.append(entry)
        if fault and fault["kind"] in ("503", "429", "500"):
            self._body()
            headers = {"Retry-After": str(fault["retryAfter"])} if fault.get("retryAfter") is not None else {}
            entry["status"] = int(fault["kind"])
            self._send(
                int(fault["kind"]), _error("EQ-5000000", message="Service unavailable, try again later."), headers
            )
            return
        if fault and fault["kind"] == "reject":
            self._body()
            errors = fault.get("errors") or _error(
                rules.INVALID,
                [{"property": "details.visitStartDateTime", "reason": "The IBX is closed for visits at that time."}],
            )
            for e in errors:
                e.setdefault("correlationId", self.correlation_id)
            entry["status"] = 400
            self._send(400, errors, {})
            return
        try:
            status, body, headers = self._route(method, path, query)
        except Exception:
            logger.exception("sandbox error")
            status, body, headers = 500, _error("EQ-5000000", message="Internal error."), {}
        entry["status"] = status
        if fault and fault["kind"] == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault and fault["kind"] == "slow":
            time.sleep(float(fault.get("delay") or 5))
        try:
            self._send(status, body, headers)
        except OSError:  # the caller went away
            pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # -- routes ------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict) -> tuple:
        state = self.state
        if path.startswith("/_sandbox"):
            return self._admin(method, path)
        if method == "POST" and path == "/oauth2/v1/token":
            return self._token()
        client = self._authorized()
        if client is None:
            self._body()
            return self._reply(
                401, _error("EQ-2011001", message="Invalid or expired token.", correlation_id=self.correlation_id)
            )
        if method == "POST" and path == WORK_VISITS:
            return self._create(client)
        if method == "PATCH" and path.startswith(WORK_VISITS + "/"):
            return self._modify(path.rsplit("/", 1)[-1])
        if method == "GET" and path == ORDERS:
            reference = (query.get("customerReferenceId") or [None])[0]
            with state.lock:
                found = [
                    state.public(o)
                    for o in state.orders.values()
                    if reference is None or o["customerReferenceId"] == reference
                ]
            return self._reply(200, {"data": found, "pagination": {"total": len(found)}})
        if method == "GET" and path.startswith(ORDERS + "/"):
            order_id = path.rsplit("/", 1)[-1]
            with state.lock:
                order = state.orders.get(order_id)
                view = state.public(order) if order else None
            if view is None:
                return self._reply(404, _error(rules.NOT_FOUND, correlation_id=self.correlation_id))
            return self._reply(200, view)
        if method == "POST" and path.startswith(ORDERS + "/") and path.endswith("/cancel"):
            return self._cancel(path.split("/")[-2])
        if method == "GET" and path == "/colocations/v2/locations":
            if state.catalogue is None:
                state.catalogue = _default_catalogue()
            return self._reply(200, {"data": state.catalogue})
        if method == "POST" and path == "/colocations/v2/attachments/file":
            return self._attachment(client)
        self._body()
        return self._reply(404, _error("EQ-2014000", message=f"No resource {method} {path}."))

    def _authorized(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return None
        with self.state.lock:
            found = self.state.tokens.get(header[7:])
        if not found or found[1] < time.monotonic():
            return None
        return found[0]

    def _token(self) -> tuple:
        body = self._json_body()
        state = self.state
        if (
            not isinstance(body, dict)
            or body.get("grant_type") != "client_credentials"
            or body.get("client_id") != state.client_id
            or body.get("client_secret") != state.client_secret
        ):
            return self._reply(
                401, _error("EQ-2011002", message="Invalid client credentials.", correlation_id=self.correlation_id)
            )
        token = secrets.token_urlsafe(24)
        with state.lock:
            state.tokens[token] = (state.client_id, time.monotonic() + state.token_timeout)
        return self._reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "token_timeout": str(state.token_timeout),
                "user_name": state.client_id,
            },
        )

    def _context(self, body) -> rules.OrderingContext:
        cages = {}
        details = body.get("details") if isinstance(body, dict) else None
        for raw in (details or {}).get("cages") or [] if isinstance(details, dict) else []:
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                number = raw.get("accountNumber") if isinstance(raw.get("accountNumber"), str) else "SANDBOX"
                cabinets = frozenset([raw["cabinetId"]]) if isinstance(raw.get("cabinetId"), str) else frozenset()
                cages[raw["id"]] = rules.CageFacts(
                    cage_id=raw["id"],
                    ibx=raw["id"].split(":")[0],
                    accounts={number: rules.AccountFacts(number=number, cabinets=cabinets)},
                )
        with self.state.lock:
            attachments = {
                key: rules.AttachmentFacts(attachment_id=key, name=a["name"])
                for key, a in self.state.attachments.items()
            }
        return rules.OrderingContext(
            now=datetime.now(UTC),
            cages=cages,
            orderable=frozenset(cages),
            usernames=frozenset(_usernames(body)),
            attachments=attachments,
        )

    def _create(self, client: str) -> tuple:
        body = self._json_body()
        if body is ValueError:
            return self._reply(
                400,
                _error(
                    rules.INVALID,
                    [{"property": "$", "reason": "The body is not JSON."}],
                    correlation_id=self.correlation_id,
                ),
            )
        errors, clean = rules.validate_create(body, self._context(body), client)
        if errors:
            return self._reply(400, _rule_errors(errors, self.correlation_id))
        state = self.state
        now = rules.format_datetime(datetime.now(UTC))
        with state.lock:
            order_id = state.new_order_id()
            state.orders[order_id] = {
                "orderId": order_id,
                "status": "RECEIVED",
                "customerReferenceId": body.get("customerReferenceId"),
                "description": body["description"],
                "contacts": body.get("contacts") or [],
                "details": body["details"],
                "purchaseOrder": body.get("purchaseOrder"),
                "attachments": body.get("attachments") or [],
                "createdDateTime": now,
                "updatedDateTime": now,
                "_created": time.monotonic(),
                "_modifications": 0,
            }
        return self._reply(201, None, {"Location": f"/orders/{order_id}"})

    def _modify(self, order_id: str) -> tuple:
        body = self._json_body()
        state = self.state
        with state.lock:
            order = state.orders.get(order_id)
            status = state.status_of(order) if order else None
        if order is None:
            return self._reply(404, _error(rules.NOT_FOUND, correlation_id=self.correlation_id))
        if status in ("CANCELLED", "CLOSED"):
            return self._reply(
                409,
                _error(
                    rules.INVALID,
                    [{"property": "orderId", "reason": f"The order is {status} and cannot be changed."}],
                    correlation_id=self.correlation_id,
                ),
            )
        details = order["details"]
        facts = rules.OrderFacts(
            status=status,
            visit_start=rules.parse_datetime(details["visitStartDateTime"]),
            visit_end=rules.parse_datetime(details["visitEndDateTime"]),
            ordered_by="",
        )
        errors, change = rules.validate_modify(body, self._context(body), facts)
        if errors:
            return self._reply(400, _rule_errors(errors, self.correlation_id))
        with state.lock:
            if change.visit_start is not None:
                details["visitStartDateTime"] = rules.format_datetime(change.visit_start)
            if change.visit_end is not None:
                details["visitEndDateTime"] = rules.format_datetime(change.visit_end)
            if change.open_cabinet is not None:
                details["openCabinet"] = change.open_cabinet
            if change.notification_usernames:
                order["contacts"] = [c for c in order["contacts"] if c.get("type") != "NOTIFICATION"] + [
                    {"type": "NOTIFICATION", "registeredUsers": change.notification_usernames}
                ]
            order["updatedDateTime"] = rules.format_datetime(datetime.now(UTC))
            order["_modifications"] += 1
        return self._reply(202, None, {"Location": f"/orders/{order_id}"})

    def _cancel(self, order_id: str) -> tuple:
        body = self._json_body()
        state = self.state
        errors = rules.cancel_reason_errors(body.get("reason") if isinstance(body, dict) else None)
        if errors:
            return self._reply(400, _rule_errors(errors, self.correlation_id))
        with state.lock:
            order = state.orders.get(order_id)
            status = state.status_of(order) if order else None
            if order is not None and status not in ("CANCELLED", "CLOSED"):
                order["status"] = "CANCELLED"
                order["cancelReason"] = body["reason"]
                order["updatedDateTime"] = rules.format_datetime(datetime.now(UTC))
        if order is None:
            return self._reply(404, _error(rules.NOT_FOUND, correlation_id=self.correlation_id))
        if status == "CLOSED":
            return self._reply(
                409,
                _error(
                    rules.INVALID,
                    [{"property": "orderId", "reason": "The order is CLOSED and cannot be cancelled."}],
                    correlation_id=self.correlation_id,
                ),
            )
        return self._reply(202, None, {"Location": f"/orders/{order_id}"})

    def _attachment(self, client: str) -> tuple:
        raw = self._body()
        content_type = self.headers.get("Content-Type") or ""
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        part = None
        if message.is_multipart():
            part = next(
                (p for p in message.get_payload() if p.get_param("name", header="content-disposition") == "file"), None
            )
        if part is None:
            return self._reply(
                400,
                _error(
                    rules.MISSING,
                    [{"property": "file", "reason": "file is required."}],
                    correlation_id=self.correlation_id,
                ),
            )
        name = part.get_filename() or ""
        content = part.get_payload(decode=True) or b""
        errors, _ = rules.attachment_file_errors(name, len(content), content[: rules.SNIFF_BYTES])
        if errors:
            return self._reply(400, _rule_errors(errors, self.correlation_id))
        attachment_id = str(uuid.uuid4())
        with self.state.lock:
            self.state.attachments[attachment_id] = {"name": name, "size": len(content), "owner": client}
        return self._reply(201, {"attachmentId": attachment_id, "attachmentName": name})

    def _admin(self, method: str, path: str) -> tuple:
        state = self.state
        body = self._json_body() if method in ("POST", "PATCH") else None
        if path == "/_sandbox/faults" and method == "POST" and isinstance(body, dict):
            fault = {
                "kind": str(body.get("kind", "503")),
                "remaining": int(body.get("count", 1)),
                "match": body.get("match") or "/colocations",
                "retryAfter": body.get("retryAfter"),
                "delay": body.get("delay"),
                "errors": body.get("errors"),
            }
            with state.lock:
                state.faults.append(fault)
            return self._reply(201, fault)
        if path == "/_sandbox/faults" and method == "DELETE":
            with state.lock:
                state.faults.clear()
            return self._reply(204)
        if path == "/_sandbox/state" and method == "GET":
            with state.lock:
                return self._reply(
                    200,
                    {
                        "orders": [
                            state.public(o) | {"modifications": o["_modifications"]} for o in state.orders.values()
                        ],
                        "requests": list(state.requests),
                        "attachments": state.attachments,
                        "faults": state.faults,
                    },
                )
        if path == "/_sandbox/reset" and method == "POST":
            with state.lock:
                state.reset()
            return self._reply(204)
        if path == "/_sandbox/expire-tokens" and method == "POST":
            with state.lock:
                state.tokens.clear()
            return self._reply(204)
        return self._reply(404, _error("EQ-2014000", message=f"No sandbox resource {method} {path}."))


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",  # noqa: S107 - the sandbox's documented demo credentials
    step_seconds: float = 60.0,
    token_timeout: int = 3600,
) -> SandboxServer:
    """A sandbox bound to host:port (0: a free port); call serve_forever() or start_in_thread()."""
    state = SandboxState(
        client_id=client_id, client_secret=client_secret, step_seconds=step_seconds, token_timeout=token_timeout
    )
    handler = type("SandboxHandler", (_Handler,), {"state": state})
    server = SandboxServer((host, port), handler)
    server.state = state
    return server


def start_in_thread(**kwargs) -> tuple[SandboxServer, str]:
    """Start a sandbox on a free port in a daemon thread; returns the server and its base URL."""
    server = make_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"
