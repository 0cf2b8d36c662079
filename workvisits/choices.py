"""Enumerations of the work-visit domain, shared by models, rules, forms and the API."""

from django.db import models


class OrderStatus(models.TextChoices):
    PENDING_REVIEW = "PENDING_REVIEW", "Waiting for review"
    QUEUED = "QUEUED", "Waiting for the data centre"
    SUBMITTED = "SUBMITTED", "Submitted"
    RECEIVED = "RECEIVED", "Received"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    ON_HOLD = "ON_HOLD", "On hold"
    CLOSED = "CLOSED", "Closed"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"
    FAILED = "FAILED", "Failed"
    NEEDS_CHECK = "NEEDS_CHECK", "Being checked with the data centre"


# Orders in these states are over: nothing can be changed or cancelled any more.
CLOSED_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.CLOSED, OrderStatus.REJECTED})
# States the upstream reports for an order it holds; the status sync follows these.
UPSTREAM_STATUSES = frozenset(
    {OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.ON_HOLD, OrderStatus.CLOSED, OrderStatus.CANCELLED}
)
# The upstream holds the order: changes and cancellations must be sent to it.
HELD_UPSTREAM_STATUSES = frozenset({OrderStatus.SUBMITTED}) | UPSTREAM_STATUSES
OPEN_UPSTREAM_STATUSES = HELD_UPSTREAM_STATUSES - CLOSED_STATUSES
# The statuses a staff action starts from: the services refuse any other, the admin offers its buttons by them.
REVIEWABLE_STATUSES = frozenset({OrderStatus.PENDING_REVIEW})
RESUBMITTABLE_STATUSES = frozenset({OrderStatus.FAILED})
NEEDS_CHECK_STATUSES = frozenset({OrderStatus.NEEDS_CHECK})


class ContactType(models.TextChoices):
    TECHNICAL = "TECHNICAL", "Technical"
    NOTIFICATION = "NOTIFICATION", "Notification"


class Availability(models.TextChoices):
    WORK_HOURS = "WORK_HOURS", "Working hours"
    ANYTIME = "ANYTIME", "Any time"


class DetailType(models.TextChoices):
    EMAIL = "EMAIL", "Email"
    PHONE = "PHONE", "Phone"
    MOBILE = "MOBILE", "Mobile"


class PurchaseOrderType(models.TextChoices):
    EXEMPTED = "EXEMPTED", "Exempted"
    NEW = "NEW", "New purchase order"
    EXISTING = "EXISTING", "Existing purchase order"


class ReviewMode(models.TextChoices):
    OFF = "OFF", "No review"
    ALL = "ALL", "Review every order"
    CONDITIONS = "CONDITIONS", "Review orders that match the conditions"


class EventKind(models.TextChoices):
    CREATED = "CREATED", "Order placed"
    STATUS = "STATUS", "Status changed"
    MODIFIED = "MODIFIED", "Order changed"
    APPROVED = "APPROVED", "Approved by a reviewer"
    REJECTED = "REJECTED", "Rejected"
    CANCEL_REQUESTED = "CANCEL_REQUESTED", "Cancellation requested"
    UPSTREAM = "UPSTREAM", "Data centre"
    EMAIL = "EMAIL", "Email sent"
    NOTE = "NOTE", "Note"
    ANONYMIZED = "ANONYMIZED", "Personal data removed"


# ---------------------------------------------------------------------------------------------
# Visit series (workvisits/series.py).
class SeriesStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"
    CANCELLED = "CANCELLED", "Cancelled"
    ENDED = "ENDED", "Ended"


class OccurrenceStatus(models.TextChoices):
    """An occurrence without its order yet; once created, the occurrence shows its order's status."""

    PLANNED = "PLANNED", "Planned"
    CREATED = "CREATED", "Order placed"
    SKIPPED = "SKIPPED", "Skipped"
    CANCELLED = "CANCELLED", "Cancelled"
    NOT_CREATED = "NOT_CREATED", "Not created (a rule was broken)"
    MISSED = "MISSED", "Not created (the series was paused)"


# ---------------------------------------------------------------------------------------------
# Webhooks (workvisits/webhooks.py).
class WebhookEvent(models.TextChoices):
    PLACED = "order.placed", "Order placed"
    ACCEPTED = "order.accepted", "Accepted by the data centre"
    STATUS_CHANGED = "order.status_changed", "Status changed"
    MODIFIED = "order.modified", "Order changed"
    CANCELLED = "order.cancelled", "Cancelled"
    REJECTED = "order.rejected", "Rejected"
    FAILED = "order.failed", "Failed"
    NEEDS_CHECK = "order.needs_check", "Being checked with the data centre"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
