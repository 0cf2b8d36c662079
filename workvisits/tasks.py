"""Celery tasks: thin, each takes primary keys and calls one service.

The services import these tasks to send them (on commit); each task imports its service in its body,
which is what breaks the service <-> task import cycle. Every task may run twice (a redelivery, the
sweeper): the services re-read the order and act only on the state they find. Tasks that call the
upstream are routed to the `upstream` queue (settings.CELERY_TASK_ROUTES), served by a threads-pool
worker; the rest run on the default queue.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


def _retry_delay(task, retry_after: float | None = None) -> float:
    from .submission import backoff_delay

    return backoff_delay(task.request.retries + 1, retry_after)


# Outcomes are recorded where people look for them (the order's status and timeline, the upstream
# call log, the emails): no task result is stored.
@shared_task(name="workvisits.submit_order", ignore_result=True)
def submit_order(order_pk: int) -> str:
    """One attempt to bring a QUEUED order to the upstream; the service schedules the next one."""
    from .submission import order_submit

    return order_submit(order_pk=order_pk).result


@shared_task(bind=True, name="workvisits.modify_order", max_retries=None, ignore_result=True)
def modify_order(self, order_pk: int, version: int) -> str:
    """Send the order's current visit window, open-cabinet flag and notification contacts upstream."""
    from .submission import order_send_change, order_upstream_gave_up
    from .upstream.errors import TransientUpstreamError

    try:
        return order_send_change(order_pk=order_pk, version=version).result
    except TransientUpstreamError as exc:
        if self.request.retries + 1 >= settings.UPSTREAM_MAX_ATTEMPTS:
            order_upstream_gave_up(order_pk=order_pk, what="change", error=str(exc))
            return "gave up"
        raise self.retry(countdown=_retry_delay(self, exc.retry_after)) from exc


@shared_task(bind=True, name="workvisits.cancel_order", max_retries=None, ignore_result=True)
def cancel_order(self, order_pk: int) -> str:
    """Cancel a cancelled order upstream too, after any submission in flight has finished."""
    from .submission import order_cancel_upstream, order_upstream_gave_up
    from .upstream.errors import TransientUpstreamError

    try:
        outcome = order_cancel_upstream(order_pk=order_pk)
    except TransientUpstreamError as exc:
        if self.request.retries + 1 >= settings.UPSTREAM_MAX_ATTEMPTS:
            order_upstream_gave_up(order_pk=order_pk, what="cancellation", error=str(exc))
            return "gave up"
        raise self.retry(countdown=_retry_delay(self, exc.retry_after)) from exc
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.result


@shared_task(bind=True, name="workvisits.notify_order", max_retries=None, ignore_result=True)
def notify_order(self, order_pk: int) -> str:
    """Email the people the order's new events concern; retried on mail failures, never sending twice."""
    from . import notifications

    try:
        sent = notifications.notify_order(order_pk)
    except notifications.DeliveryError as exc:
        if self.request.retries + 1 >= settings.UPSTREAM_MAX_ATTEMPTS:
            logger.error("giving up on the emails of order %s: %s", order_pk, exc)
            return "gave up"
        raise self.retry(countdown=_retry_delay(self)) from exc
    return f"{sent} sent"


@shared_task(name="workvisits.import_locations")
def import_locations() -> str:
    """Bring the locations catalogue in line with the upstream (periodic, and the admin's button)."""
    from .locations import import_locations_from_upstream, sync_counts

    sync = import_locations_from_upstream()
    return f"{sync_counts(sync)}; {len(sync.errors)} errors"


@shared_task(name="workvisits.alert_operators", ignore_result=True)
def alert_operators(order_pk: int, subject: str, detail: str) -> int:
    """Tell the operators about an order (an operator's action on it, for the others)."""
    from . import notifications
    from .models import Order

    return notifications.alert_operators(Order.objects.get(pk=order_pk), subject, detail)


# ---------------------------------------------------------------------------------------------
# Periodic work (beat).
@shared_task(name="workvisits.sync_statuses")
def sync_statuses() -> str:
    """Follow the upstream's status of open orders, a batch at a time."""
    from .submission import orders_sync_statuses

    return f"{orders_sync_statuses()} changed"


@shared_task(name="workvisits.send_reminders")
def send_reminders() -> str:
    """Remind the contacts of visits starting within the next day (once per visit start)."""
    from . import notifications, selectors

    return f"{sum(notifications.send_reminder(pk) for pk in selectors.orders_to_remind())} sent"


@shared_task(name="workvisits.sweep_orders")
def sweep_orders() -> str:
    """Send again the work no message carries (the outbox of what could not be sent)."""
    from .submission import orders_sweep

    return ", ".join(f"{count} {what}" for what, count in orders_sweep().items())


@shared_task(name="workvisits.send_password_reset", ignore_result=True)
def send_password_reset(email: str, domain: str, use_https: bool) -> None:
    """The password reset link, sent by a worker rather than in the request."""
    from . import services

    services.password_reset_send(email=email, domain=domain, use_https=use_https)


@shared_task(name="workvisits.anonymize_orders", ignore_result=True)
def anonymize_orders() -> str:
    """Run by the beat daily: the retention of visitors' personal data (services.orders_anonymize)."""
    from . import services

    return f"{services.orders_anonymize()} orders anonymized"


# ---------------------------------------------------------------------------------------------
# Visit series (workvisits/series.py).
@shared_task(name="workvisits.materialize_series")
def materialize_series() -> str:
    """Run by the beat: create the orders of the occurrences that are now within the lead time."""
    from . import series

    return f"{series.series_materialize()} orders created"


@shared_task(bind=True, name="workvisits.notify_series", max_retries=None, ignore_result=True)
def notify_series(self, series_pk: int) -> str:
    """Email the series' recurring invite (when it changed) and tell its owner why it paused."""
    from . import notifications, series

    try:
        sent = series.series_notify(series_pk=series_pk)
    except notifications.DeliveryError as exc:
        if self.request.retries + 1 >= settings.UPSTREAM_MAX_ATTEMPTS:
            logger.error("giving up on the emails of series %s: %s", series_pk, exc)
            return "gave up"
        raise self.retry(countdown=_retry_delay(self)) from exc
    return f"{sent} sent"
# Webhooks (workvisits/webhooks.py): the delivery rows are the outbox, so a lost message is only late.
@shared_task(name="workvisits.deliver_webhook", ignore_result=True)
def deliver_webhook(delivery_pk: int) -> str:
    """One attempt of a webhook delivery; the service schedules the retry or the next delivery in line."""
    from .webhooks import delivery_attempt

    return delivery_attempt(delivery_pk=delivery_pk)


@shared_task(name="workvisits.sweep_webhooks")
def sweep_webhooks() -> str:
    """Run by the beat: due deliveries sent again, endpoints failing for a day disabled."""
    from .webhooks import deliveries_sweep

    return ", ".join(f"{count} {what}" for what, count in deliveries_sweep().items())


@shared_task(name="workvisits.remove_unused_uploads", ignore_result=True)
def remove_unused_uploads() -> str:
    """Run by the beat hourly: uploads no order took within a day are removed (uploads.unused_uploads_remove)."""
    from . import uploads

    return f"{uploads.unused_uploads_remove()} unused uploads removed"
