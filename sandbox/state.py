"""What the sandbox knows, in memory and behind one lock: its clock, clients and tokens, orders,
attachments, faults, settings and the request log."""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import catalogue as catalogue_module
from .validation import normal_visit

REQUEST_LOG_SIZE = 20_000
PROGRESSION = ("RECEIVED", "IN_PROGRESS", "CLOSED")
ORDER_STATUSES = ("RECEIVED", "IN_PROGRESS", "ON_HOLD", "CLOSED", "CANCELLED")
FINAL_STATUSES = ("CLOSED", "CANCELLED")
ATTACHMENT_DAYS = 40
SETTING_TYPES = {"latency": float, "nosearch": bool, "statusStepSeconds": float, "tokenTimeout": int,
                 "frozenClock": bool}


def iso(moment: datetime) -> str:
    """UTC, milliseconds, ``Z``: how the upstream writes its timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Client:
    client_id: str
    user_name: str


class Sandbox:
    """The whole state of one sandbox process."""

    def __init__(self, *, catalogue: catalogue_module.Catalogue, client_id: str, client_secret: str,
                 status_step_seconds: float = 60.0, token_timeout: int = 3600):
        self.catalogue = catalogue
        self.lock = threading.RLock()
        self.secrets = {client_id: (client_secret, Client(client_id, catalogue.api_user))}
        for other in catalogue.other_clients:
            self.secrets[other["clientId"]] = (other["clientSecret"], Client(other["clientId"], other["userName"]))
        self.initial_settings = {"latency": 0.0, "nosearch": False, "statusStepSeconds": float(status_step_seconds),
                                 "tokenTimeout": int(token_timeout), "frozenClock": False}
        # A random start per process: a restarted sandbox must not hand out ids the portal already holds.
        self.order_numbers = itertools.count(secrets.randbelow(80_000_000) + 10_000_000)
        self.tokens: dict[str, tuple[Client, datetime]] = {}
        self.reset()

    # -- clock and settings ---------------------------------------------------------------------
    def reset(self) -> None:
        """Forget orders, attachments, faults, settings and requests, and put the clock back; tokens stay."""
        with self.lock:
            self.offset = timedelta(0)
            self.frozen_at: datetime | None = None
            self.settings = dict(self.initial_settings)
            self.orders: dict[str, dict] = {}
            self.attachments: dict[str, dict] = {}
            self.faults: list[dict] = []
            self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)

    def now(self) -> datetime:
        """Real UTC time (or, with frozenClock, the moment it was frozen) moved forward by every advance
        since the last reset: a frozen clock moves only when a test says so."""
        return (self.frozen_at or datetime.now(UTC)) + self.offset

    def advance(self, seconds: float) -> datetime:
        with self.lock:
            self.offset += timedelta(seconds=seconds)
            return self.now()

    def setting(self, name: str):
        with self.lock:
            return self.settings[name]

    def update_settings(self, changes: dict) -> dict:
        with self.lock:
            if "frozenClock" in changes:
                frozen = bool(changes["frozenClock"])
                self.frozen_at = (self.frozen_at or datetime.now(UTC)) if frozen else None
            self.settings.update(changes)
            return dict(self.settings)

    # -- tokens --------------------------------------------------------------------------------
    def issue_token(self, client_id, client_secret) -> tuple[str, Client, int] | None:
        known = self.secrets.get(client_id) if isinstance(client_id, str) else None
        if known is None or not isinstance(client_secret, str) or not secrets.compare_digest(
            known[0].encode(), client_secret.encode()
        ):
            return None
        token = secrets.token_urlsafe(32)
        with self.lock:
            timeout = self.settings["tokenTimeout"]
            self.tokens[token] = (known[1], self.now() + timedelta(seconds=timeout))
        return token, known[1], timeout

    def client_for_token(self, token: str) -> Client | None:
        with self.lock:
            found = self.tokens.get(token)
            if found is None or found[1] <= self.now():
                return None
            return found[0]

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, fault: dict) -> dict:
        with self.lock:
            fault = {"id": uuid.uuid4().hex[:12], **fault}
            self.faults.append(fault)
            return dict(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> dict | None:
        """The first fault matching this call, one use of it spent."""
        with self.lock:
            for fault in self.faults:
                match = fault["match"]
                target = f"{method} {path}" if " " in match else path
                if target.startswith(match):
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self.faults.remove(fault)
                    return dict(fault)
        return None

    # -- request log ---------------------------------------------------------------------------
    def log_request(self, entry: dict) -> dict:
        with self.lock:
            entry["at"] = iso(self.now())
            self.requests.append(entry)
            return entry

    def update_request(self, entry: dict, **changes) -> None:
        with self.lock:
            entry.update(changes)

    # -- orders --------------------------------------------------------------------------------
    def _progress(self, order: dict, now: datetime) -> None:
        """Move an order along RECEIVED → IN_PROGRESS → CLOSED, one step per statusStepSeconds."""
        step = self.settings["statusStepSeconds"]
        if step <= 0 or order["status"] not in PROGRESSION[:-1]:
            return
        elapsed = (now - order["statusSince"]).total_seconds()
        steps = int(elapsed // step)
        if steps <= 0:
            return
        index = PROGRESSION.index(order["status"])
        target = min(index + steps, len(PROGRESSION) - 1)
        moved_at = order["statusSince"] + timedelta(seconds=step * (target - index))
        self._set_status(order, PROGRESSION[target], moved_at)

    @staticmethod
    def _set_status(order: dict, status: str, at: datetime) -> None:
        order["status"] = status
        order["statusSince"] = at
        order["updatedAt"] = max(order["updatedAt"], at)
        order["closedAt"] = at if status in FINAL_STATUSES else None
        for line in order["lines"]:
            if not line["cancelled"]:
                line["status"] = status

    def order_create(self, *, client: Client, body: dict) -> dict:
        with self.lock:
            now = self.now()
            order_id = f"1-{next(self.order_numbers):08d}"
            details = body["details"]
            lines = []
            for index, cage_entry in enumerate(details["cages"], start=1):
                cage = self.catalogue.cages[cage_entry["id"]]
                lines.append({
                    "lineId": f"{order_id}-{index}",
                    "cage": cage.cage_id,
                    "ibx": cage.ibx,
                    "accountNumber": cage.account_for(cage_entry.get("accountNumber"), cage_entry.get("cabinetId")),
                    "cabinets": [cage_entry["cabinetId"]] if cage_entry.get("cabinetId") else [],
                    "status": "RECEIVED",
                    "cancelled": False,
                })
            order = {
                "orderId": order_id,
                "client": client.client_id,
                "userName": client.user_name,
                "body": copy.deepcopy(body),
                "visit": normal_visit({k: details[k] for k in ("visitStartDateTime", "visitEndDateTime", "openCabinet")
                                       if k in details}),
                "contacts": self._contacts(client.user_name, body.get("contacts") or []),
                "lines": lines,
                "status": "RECEIVED",
                "createdAt": now,
                "updatedAt": now,
                "statusSince": now,
                "closedAt": None,
                "modifications": [],
                "cancellation": None,
            }
            self.orders[order_id] = order
            return order

    @staticmethod
    def _contacts(user_name: str, given: list[dict]) -> list[dict]:
        """The order's contacts as Orders v2 lists them: one person per entry, the ordering user first."""
        contacts = [{"registeredUser": user_name, "type": "ORDERING"}]
        for contact in given:
            extra = {k: contact[k] for k in ("availability", "timezone") if k in contact}
            if "registeredUsers" in contact:
                contacts += [{"registeredUser": user, "type": contact["type"], **extra}
                             for user in contact["registeredUsers"]]
            else:
                contacts.append({"firstName": contact["firstName"], "lastName": contact["lastName"],
                                 "type": contact["type"], "details": contact["details"], **extra})
        # The ordering user is the technical and notification contact unless others are named.
        for kind in ("TECHNICAL", "NOTIFICATION"):
            if not any(c["type"] == kind for c in contacts):
                contacts.append({"registeredUser": user_name, "type": kind})
        return contacts

    def order_for(self, client: Client, order_id: str) -> dict | None:
        """The caller's order with its status brought up to the sandbox clock (None: not theirs)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order["client"] != client.client_id:
                return None
            self._progress(order, self.now())
            return order

    def order_modify(self, order: dict, *, body: dict, change: dict) -> None:
        with self.lock:
            now = self.now()
            order["visit"].update(normal_visit(change.get("visit", {})))
            for contact in change.get("contacts", []):
                for user in contact["registeredUsers"]:
                    entry = {"registeredUser": user, "type": "NOTIFICATION",
                             **{k: contact[k] for k in ("availability", "timezone") if k in contact}}
                    if entry not in order["contacts"]:
                        order["contacts"].append(entry)
            order["modifications"].append({"at": iso(now), "body": copy.deepcopy(body)})
            order["updatedAt"] = now

    def order_cancel(self, order: dict, *, body: dict) -> None:
        with self.lock:
            now = self.now()
            wanted = set(body.get("lineIds") or [line["lineId"] for line in order["lines"]])
            for line in order["lines"]:
                if line["lineId"] in wanted:
                    line["cancelled"] = True
                    line["status"] = "CANCELLED"
            order["cancellation"] = {"at": iso(now), "reason": body["reason"],
                                     "attachments": body.get("attachments") or [],
                                     "lineIds": body.get("lineIds") or []}
            order["updatedAt"] = now
            if all(line["cancelled"] for line in order["lines"]):
                self._set_status(order, "CANCELLED", now)

    def order_set_status(self, order_id: str, status: str) -> dict | None:
        with self.lock:
            order = self.orders.get(order_id)
            if order is not None:
                self._set_status(order, status, self.now())
            return order

    def orders_of(self, client: Client) -> list[dict]:
        with self.lock:
            now = self.now()
            found = [o for o in self.orders.values() if o["client"] == client.client_id]
            for order in found:
                self._progress(order, now)
            return found

    # -- attachments ---------------------------------------------------------------------------
    def attachment_add(self, *, client: Client, name: str, content_type: str, content: bytes,
                       purpose: str | None) -> dict:
        with self.lock:
            now = self.now()
            attachment = {
                "attachmentId": str(uuid.uuid4()),
                "attachmentName": name,
                "attachmentType": content_type,
                "attachmentSize": len(content),
                "createdDate": iso(now),
                "createdBy": client.user_name,
                "lastUpdatedDate": iso(now),
                "purpose": purpose,
                "client": client.client_id,
                "content": content,
                "expiresAt": now + timedelta(days=ATTACHMENT_DAYS),
            }
            self.attachments[attachment["attachmentId"]] = attachment
            return attachment

    def attachment_for(self, client: Client, attachment_id: str) -> dict | None:
        with self.lock:
            found = self.attachments.get(attachment_id)
            if found is None or found["client"] != client.client_id or found["expiresAt"] <= self.now():
                return None
            return found

    def attachment_delete(self, attachment_id: str) -> None:
        with self.lock:
            self.attachments.pop(attachment_id, None)

    # -- the control API's view ----------------------------------------------------------------
    def snapshot(self) -> dict:
        with self.lock:
            now = self.now()
            for order in self.orders.values():
                self._progress(order, now)
            return {
                "now": iso(now),
                "settings": dict(self.settings),
                "faults": [dict(f) for f in self.faults],
                "orders": [self.order_summary(o) for o in self.orders.values()],
                "attachments": [
                    {k: a[k] for k in ("attachmentId", "attachmentName", "attachmentSize", "attachmentType",
                                       "createdBy", "createdDate", "purpose")}
                    for a in self.attachments.values()
                ],
                "requests": [dict(r) for r in self.requests],
            }

    @staticmethod
    def order_summary(order: dict) -> dict:
        return {
            "orderId": order["orderId"],
            "status": order["status"],
            "createdAt": iso(order["createdAt"]),
            "updatedAt": iso(order["updatedAt"]),
            "body": copy.deepcopy(order["body"]),
            "modifications": copy.deepcopy(order["modifications"]),
            "cancellation": copy.deepcopy(order["cancellation"]),
            "client": order["client"],
        }


_instance: Sandbox | None = None
_instance_lock = threading.Lock()


def get_sandbox() -> Sandbox:
    """The process's sandbox, made from settings on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            from django.conf import settings

            _instance = Sandbox(
                catalogue=catalogue_module.load(settings.SANDBOX_DATA),
                client_id=settings.SANDBOX_CLIENT_ID,
                client_secret=settings.SANDBOX_CLIENT_SECRET,
                status_step_seconds=settings.SANDBOX_STATUS_STEP_SECONDS,
                token_timeout=settings.SANDBOX_TOKEN_TIMEOUT,
            )
        return _instance
