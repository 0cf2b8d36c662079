"""Calendar files for people: one visit ("Add to calendar") and a user's private feed of upcoming visits."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from .. import notifications, selectors

FEED_STATUSES_LEFT_OUT = notifications.WITHDRAWN_STATUSES | {"CLOSED"}


def order_ics(order) -> str:
    """The visit as its invites describe it (same UID), to import by hand."""
    event = notifications.visit_event(order, sequence=order.version, status=notifications.invite_status(order.status))
    return notifications.calendar_text([(order, event)], method="PUBLISH")


def feed_ics(user) -> str:
    """The organization's upcoming visits the user may see, each in its IBX's zone."""
    orders = selectors.upcoming_orders_for_feed(user=user, now=timezone.now(), left_out=FEED_STATUSES_LEFT_OUT)
    events = [
        (o, notifications.visit_event(o, sequence=o.version, status=notifications.invite_status(o.status)))
        for o in orders
    ]
    name = f"Work visits of {user.organization}" if user.organization_id else "Work visits"
    return notifications.calendar_text(events, method="PUBLISH", name=name)


def feed_url(request, token: str) -> str:
    """The webcal:// address calendar applications subscribe to."""
    url = request.build_absolute_uri(reverse("calendar_feed", kwargs={"token": token}))
    return "webcal://" + url.split("://", 1)[1]
