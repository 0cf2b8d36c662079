"""Streaming an attachment to a member of its organization, for the JSON API and the customer pages."""

from __future__ import annotations

import uuid

from django.http import FileResponse, Http404

from . import selectors
from .models import Attachment, Order, User


def attachment_for_user(user: User, attachment_id) -> Attachment:
    """The attachment if `user` may download it, else Http404 (existence is not revealed).

    A member of the owning organization may, and only: when the attachment belongs to an order (as one
    of its attachments or as its purchase order's), if the user may see that order; an upload no order
    uses yet, as any member (any member who may order can attach it to an order).
    """
    try:
        key = uuid.UUID(str(attachment_id))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such attachment.") from None
    if not getattr(user, "is_authenticated", False) or not user.organization_id:
        raise Http404("No such attachment.")
    attachment = Attachment.objects.filter(pk=key, organization_id=user.organization_id).select_related("order").first()
    if attachment is None:
        raise Http404("No such attachment.")
    visible = selectors.orders_for_user(user=user)
    if attachment.order_id:
        allowed = visible.filter(pk=attachment.order_id).exists()
    elif Order.objects.filter(po_attachment_id=attachment.pk).exists():
        allowed = visible.filter(po_attachment_id=attachment.pk).exists()
    else:
        allowed = True
    if not allowed:
        raise Http404("No such attachment.")
    return attachment


def attachment_download(user: User, attachment_id) -> FileResponse:
    """A download response for the attachment: never rendered inline, never sniffed by the browser."""
    attachment = attachment_for_user(user, attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file of this attachment is missing.") from None
    response = FileResponse(handle, as_attachment=True, filename=attachment.name, content_type=attachment.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
