"""Small helpers the sandbox's views share: method dispatch, JSON bodies, the validation context."""

from __future__ import annotations

import json

from . import errors
from .state import Sandbox
from .validation import Context


def methods(**handlers):
    """One view per URL answering each method with its handler, anything else with a 405 error array."""

    def dispatch(request, *args, **kwargs):
        handler = handlers.get(request.method)
        if handler is None:
            return errors.error_response(
                request, 405, errors.NOT_ALLOWED,
                message=f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(handlers))}.",
                headers={"Allow": ", ".join(sorted(handlers))},
            )
        return handler(request, *args, **kwargs)

    dispatch.sandbox_public = all(getattr(h, "sandbox_public", False) for h in handlers.values())
    return dispatch


def read_json(request):
    """The parsed JSON body and None, or None and the error answer (415 not JSON, 400 unreadable)."""
    if request.content_type != "application/json":
        return None, errors.error_response(
            request, 415, errors.UNSUPPORTED_MEDIA,
            [errors.info("content-type", "Send the body as JSON with content-type: application/json.",
                         request.content_type)],
        )
    try:
        return json.loads(request.body or b""), None
    except ValueError as exc:
        return None, errors.error_response(
            request, 400, errors.INVALID, [errors.info("body", f"The body is not valid JSON ({exc}).")]
        )


def organizations_of(sandbox: Sandbox, client) -> frozenset[str]:
    """The organizations on whose accounts the caller's user may order work visits."""
    user = sandbox.catalogue.users.get(client.user_name)
    return frozenset(user.organizations if user else ())


def context(sandbox: Sandbox, client) -> Context:
    with sandbox.lock:
        now = sandbox.now()
        ids = frozenset(
            key for key, a in sandbox.attachments.items() if a["client"] == client.client_id and a["expiresAt"] > now
        )
    return Context(catalogue=sandbox.catalogue, now=now, attachment_ids=ids,
                   organizations=organizations_of(sandbox, client))


def query_list(request, name: str) -> list[str] | None:
    """A list parameter given repeated (``ibxs=SV5&ibxs=DC2``) or comma-separated (``ibxs=AM1,AM2``)."""
    values = [v for raw in request.GET.getlist(name) for v in raw.split(",") if v.strip()]
    return [v.strip() for v in values] or None
