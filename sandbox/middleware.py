"""What every upstream call goes through: correlation id, request log, latency, faults and the token check."""

from __future__ import annotations

import json
import logging
import time
import uuid

from . import errors
from .state import get_sandbox

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox"
# The server puts a callable under this environ key; calling it makes the connection close unanswered.
DROP_KEY = "sandbox.drop_connection"
FAULT_KINDS = ("503", "429", "500", "501", "502", "504", "408", "400", "drop", "slow")
ANSWERING_FAULTS = {"503", "429", "500", "501", "502", "504", "408", "400"}
FAULT_CODES = {
    "503": errors.UNAVAILABLE,
    "429": "EQ-4290001",
    "500": errors.SERVER_ERROR,
    "501": "EQ-5000501",
    "502": "EQ-5000502",
    "504": "EQ-5000504",
    "408": "EQ-4080001",
}
FAULT_MESSAGES = {
    "429": "Too many requests; slow down.",
    "501": "Not implemented.",
    "502": "Bad gateway.",
    "504": "Gateway timeout.",
    "408": "The request timed out.",
}


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def public(view):
    """Mark a view as callable without a token (the token call and the control API)."""
    view.sandbox_public = True
    return view


def logged_body(request):
    """The request body for the log: parsed JSON, multipart part names and file names, or the text."""
    try:
        if request.content_type == "multipart/form-data":
            return {
                "parts": sorted(set(request.POST) | set(request.FILES)),
                "files": {name: f.name for name, f in request.FILES.items()},
            }
        raw = request.body
    except Exception:  # an unreadable body is the caller's problem, answered by the view; log what we can
        return None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:2000].decode("utf-8", "replace")


def fault_response(request, fault: dict):
    kind = fault["kind"]
    if kind == "400":
        entries = fault.get("errors") or [errors.entry(errors.INVALID, "", [errors.info(
            "details.visitStartDateTime", "The IBX is closed for visits at that time.")])]
        cid = errors.correlation_id_of(request)
        entries = [{**e, "correlationId": e.get("correlationId") or cid} if isinstance(e, dict) else e
                   for e in entries]
        return errors.errors_response(400, entries)
    headers = {}
    if kind in ("429", "503") and fault.get("retryAfter") is not None:
        headers["Retry-After"] = str(int(fault["retryAfter"]))
    return errors.error_response(request, int(kind), FAULT_CODES[kind], message=FAULT_MESSAGES.get(kind),
                                 headers=headers)


class SandboxMiddleware:
    """Wraps every call but the control API's; the views see an authenticated ``request.sandbox_client``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request) if is_control(request.path) else self.upstream_call(request)
        if not response.streaming:
            # The server answers HTTP/1.0; a length lets a caller tell a whole answer from a cut one.
            response["Content-Length"] = str(len(response.content))
        return response

    def upstream_call(self, request):
        sandbox = get_sandbox()
        cid = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
        request.correlation_id = cid
        entry = sandbox.log_request({
            "method": request.method,
            "path": request.path,
            "query": request.META.get("QUERY_STRING", ""),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": None,
            "status": None,
            "fault": None,
        })
        latency = sandbox.setting("latency")
        if latency > 0:
            time.sleep(latency)  # models a slow upstream: every call takes this long
        fault = sandbox.take_fault(request.method, request.path)
        kind = fault["kind"] if fault else None
        sandbox.update_request(entry, fault=kind)
        response = fault_response(request, fault) if kind in ANSWERING_FAULTS else self.get_response(request)
        if kind == "slow":
            time.sleep(float(fault.get("delay") or 0))
        response["X-Correlation-Id"] = cid
        answered = True
        if kind == "drop":
            drop = request.META.get(DROP_KEY)
            if drop is None:
                logger.warning("drop fault: this server cannot drop connections; answering instead")
            else:
                drop()
                answered = False
        sandbox.update_request(entry, body=logged_body(request),
                               status=response.status_code if answered else None,
                               actedStatus=response.status_code)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "sandbox_public", False):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        client = get_sandbox().client_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if client is None:
            return errors.error_response(
                request, 401, errors.UNAUTHORIZED,
                [errors.info("authorization", "Send authorization: Bearer <access_token> with a token from "
                                              "POST /oauth2/v1/token that has not expired.")],
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.sandbox_client = client
        return None
