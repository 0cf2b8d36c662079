"""The work-visit domain: customers, the locations catalogue, grants, orders and their timeline."""

import secrets
import uuid
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from simple_history.models import HistoricalRecords

from . import rules
from .choices import (
    Availability,
    ContactType,
    EventKind,
    OccurrenceStatus,
    OrderStatus,
    PurchaseOrderType,
    ReviewMode,
    SeriesStatus,
    WebhookDeliveryStatus,
    WebhookEvent,
)
from .migration_operations import trigram_index

# The review policy's conditions: each field `review_<name>` is the rules' ReviewPolicy.<name>.
REVIEW_CONDITION_FIELDS = (
    "review_within_24_hours",
    "review_non_registered_visitors",
    "review_new_purchase_order",
    "review_night_or_weekend",
)
REVIEW_POLICY_FIELDS = ("review_mode", *REVIEW_CONDITION_FIELDS)


class Organization(models.Model):
    """A customer of the data centre. Its review policy says which orders wait for a reviewer."""

    name = models.CharField(max_length=200, unique=True)
    review_mode = models.CharField(max_length=16, choices=ReviewMode.choices, default=ReviewMode.OFF)
    review_within_24_hours = models.BooleanField("visits starting within 24 hours", default=False)
    review_non_registered_visitors = models.BooleanField("non-registered visitors", default=False)
    review_new_purchase_order = models.BooleanField("a NEW purchase order", default=False)
    review_night_or_weekend = models.BooleanField("visits at night or at weekends", default=False)
    # Replaced (by a new random value, in the change's transaction) whenever the organization's catalogue
    # changes: the key of its cached catalogue (workvisits.catalogue.catalogue_changed).
    catalogue_version = models.UUIDField(default=uuid.uuid4, editable=False)
    retention_days = models.PositiveIntegerField(
        "keep visitors' personal data for (days)",
        default=rules.PERSONAL_DATA_RETENTION_DAYS,
        help_text="Names, emails and phones of visitors and non-registered contacts are removed this many "
        "days after the visit ends; the order, its times and cages stay.",
    )
    # Staff changes (who, when, before and after) of the review policy and the retention, in the admin.
    history = HistoricalRecords(excluded_fields=["catalogue_version"])

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A copy read before a catalogue change must never write the old version back.
        self.catalogue_version = uuid.uuid4()
        super().save(*args, **kwargs)

    def review_policy(self) -> rules.ReviewPolicy:
        return self.policy_of({field: getattr(self, field) for field in REVIEW_POLICY_FIELDS})

    @staticmethod
    def policy_of(values: Mapping) -> rules.ReviewPolicy:
        """The review policy of an organization's values of REVIEW_POLICY_FIELDS (as stored, e.g. a row's)."""
        conditions = {field.removeprefix("review_"): values[field] for field in REVIEW_CONDITION_FIELDS}
        return rules.ReviewPolicy(mode=values["review_mode"], **conditions)


def validate_email_address(value: str) -> None:
    """The rules' email check as a field validator: the admin refuses what the wizard and the API refuse."""
    problem = rules.email_address_error(value) if value else None
    if problem:
        raise ValidationError(f"{value} {problem}", code="invalid")


def person_name(first_name: str, last_name: str, username: str = "") -> str:
    """A person's name as the portal shows it: first and last name, else the username (a user's)."""
    return f"{first_name} {last_name}".strip() or username


class User(AbstractUser):
    """A person: a customer's member (with an organization) or data-centre staff."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    email = models.EmailField("email address", blank=True, validators=[validate_email_address])
    phone = models.CharField(max_length=40, blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA name, e.g. Europe/Amsterdam")
    # Every change of a user (its groups and permissions too), never its password hash or sign-ins.
    history = HistoricalRecords(excluded_fields=["password", "last_login"], m2m_fields=["groups", "user_permissions"])

    # Portal users are not the data centre's users: only a user with this name is sent upstream as a
    # registered user; anyone else is sent by name and email (workvisits.upstream.payloads).
    upstream_username = models.CharField(
        "upstream username",
        max_length=150,
        null=True,
        blank=True,
        unique=True,
        help_text="The person's username at the data centre (Equinix Customer Portal), if they have one.",
    )

    def save(self, *args, **kwargs):
        # Blank is stored as NULL, so that any number of users may have none while a name stays unique.
        self.upstream_username = (self.upstream_username or "").strip() or None
        super().save(*args, **kwargs)

    def display_name(self) -> str:
        return person_name(self.first_name, self.last_name, self.username)


def _validate_timezone(value: str) -> None:
    if not rules.valid_timezone(value):
        raise ValidationError(f"'{value}' is not a time zone; use an IANA name such as Europe/Amsterdam.")


class IBX(models.Model):
    """An International Business Exchange: a data centre, with its own time zone."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[_validate_timezone])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "IBX"
        verbose_name_plural = "IBXs"

    def __str__(self):
        return self.code

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Account(models.Model):
    """A billing account of an organization; it may be on credit hold or need purchase orders."""

    number = models.CharField(max_length=rules.CATALOGUE_ID_MAX, unique=True)
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="accounts")
    is_credit_hold = models.BooleanField("on credit hold", default=False)
    is_po_bearing = models.BooleanField("needs a purchase order", default=False)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} {self.name}"


class Cage(models.Model):
    """A cage of an organization in an IBX; its id starts with the IBX code (``DC2:01:123456``)."""

    cage_id = models.CharField("cage id", max_length=rules.CATALOGUE_ID_MAX, unique=True)
    ibx = models.ForeignKey(IBX, on_delete=models.PROTECT, related_name="cages")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="cages")
    cage_type = models.CharField(max_length=50, default="CAGE")
    accounts = models.ManyToManyField(Account, related_name="cages", blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["cage_id"]

    def __str__(self):
        return self.cage_id

    def clean(self):
        if self.ibx_id and not self.cage_id.startswith(f"{self.ibx.code}:"):
            raise ValidationError({"cage_id": f"A cage of {self.ibx.code} has an id starting with '{self.ibx.code}:'."})


class Cabinet(models.Model):
    """A cabinet inside a cage, billed to one of the cage's accounts (``DC2:01:123456:0101``)."""

    cabinet_id = models.CharField("cabinet id", max_length=rules.CATALOGUE_ID_MAX, unique=True)
    cage = models.ForeignKey(Cage, on_delete=models.PROTECT, related_name="cabinets")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="cabinets")
    cabinet_type = models.CharField(max_length=50, default="CABINET")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["cabinet_id"]

    def __str__(self):
        return self.cabinet_id

    def clean(self):
        errors = {}
        if self.cage_id and not self.cabinet_id.startswith(f"{self.cage.cage_id}:"):
            errors["cabinet_id"] = (
                f"A cabinet of cage {self.cage.cage_id} has an id starting with '{self.cage.cage_id}:'."
            )
        if self.cage_id and self.account_id and not self.cage.accounts.filter(pk=self.account_id).exists():
            errors["account"] = f"Account {self.account.number} is not an account of cage {self.cage.cage_id}."
        if errors:
            raise ValidationError(errors)


class OrderingGrant(models.Model):
    """The work-visit ordering permission of one user on one cage, or on every cage of an IBX."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ordering_grants")
    cage = models.ForeignKey(Cage, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    ibx = models.ForeignKey(IBX, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(cage__isnull=False) & Q(ibx__isnull=True)) | (Q(cage__isnull=True) & Q(ibx__isnull=False)),
                name="grant_on_cage_or_ibx",
            ),
            models.UniqueConstraint(
                fields=["user", "cage"], condition=Q(cage__isnull=False), name="one_grant_per_cage"
            ),
            models.UniqueConstraint(fields=["user", "ibx"], condition=Q(ibx__isnull=False), name="one_grant_per_ibx"),
        ]

    def __str__(self):
        return f"{self.user} may order work visits in {self.cage or self.ibx}"

    def clean(self):
        if (self.cage_id is None) == (self.ibx_id is None):
            raise ValidationError("Grant the permission on a cage or on an IBX, not both.")
        if self.cage_id and self.user_id and self.cage.organization_id != self.user.organization_id:
            raise ValidationError({"cage": "The cage belongs to another organization than the user."})


# 32 characters, a divisor of 256: a random byte's last 5 bits pick one, each character equally likely.
_ORDER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _new_order_id() -> str:
    # One read of the system's randomness for the ten characters, not one per character.
    return "WV-" + "".join(_ORDER_ID_ALPHABET[b % len(_ORDER_ID_ALPHABET)] for b in secrets.token_bytes(10))


# The order's columns a search looks into (the text anywhere in them, any case).
ORDER_SEARCHED = ("order_id", "customer_reference_id", "upstream_order_id")
# What the staff's search looks into in a visitor or contact typed in (details: the emails and phones).
PERSON_SEARCHED = ("first_name", "last_name", "details")


class Order(models.Model):
    """A work-visit order of an organization, from the customer's request to the upstream's close."""

    order_id = models.CharField(max_length=32, unique=True, default=_new_order_id, editable=False)
    # Not indexed alone: the (organization, ...) indexes of Meta serve every lookup by organization.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="orders", db_index=False)
    ibx = models.ForeignKey(IBX, on_delete=models.PROTECT, related_name="orders")
    ordered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    description = models.TextField(max_length=rules.DESCRIPTION_MAX)
    customer_reference_id = models.CharField(max_length=rules.CUSTOMER_REFERENCE_MAX, blank=True)
    po_type = models.CharField("purchase order type", max_length=16, choices=PurchaseOrderType.choices, blank=True)
    po_number = models.CharField("purchase order number", max_length=rules.PO_NUMBER_MAX, blank=True)
    po_amount = models.CharField("purchase order amount", max_length=rules.PO_AMOUNT_MAX, blank=True)
    po_start_date = models.DateField(null=True, blank=True)
    po_end_date = models.DateField(null=True, blank=True)
    po_attachment = models.ForeignKey("Attachment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    open_cabinet = models.BooleanField(default=False)
    visit_start = models.DateTimeField(db_index=True)
    visit_end = models.DateTimeField()
    # Not indexed alone: the lists' (organization, status, visit_start) index serves status filters.
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.QUEUED)
    upstream_order_id = models.CharField(max_length=rules.UPSTREAM_ORDER_ID_MAX, null=True, blank=True, unique=True)
    # The calendar invite's UID; the X-Correlation-Id of every attempt to create the order upstream.
    submission_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Submission progress (workvisits/submission.py). Sent to the broker at (null: the broker refused it):
    sent_for_submission_at = models.DateTimeField(null=True, blank=True, db_index=True)
    submit_attempts = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim while it talks to the upstream about this order: who, and until when.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A create may have reached the upstream and nobody has looked since: look up before creating.
    upstream_uncertain = models.BooleanField(default=False)
    upstream_cancelled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    review_reasons = models.JSONField(default=list, blank=True)
    rejection_reasons = models.JSONField(default=list, blank=True)  # [{"property", "reason"}]
    upstream_payload = models.JSONField(null=True, blank=True)
    upstream_response = models.JSONField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    personal_data_removed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_organization_orders", "Can see all of the organization's work-visit orders"),
            ("review_order", "Can approve or reject work-visit orders"),
            ("resubmit_order", "Can resubmit failed work-visit orders"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(visit_end__gt=models.F("visit_start")), name="visit_end_after_start"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(
                condition=Q(po_type__in=[*PurchaseOrderType.values, ""]), name="order_po_type_valid"
            ),
        ]
        indexes = [
            # The lists (selectors): the dashboard's upcoming and past parts in visit order, the API's
            # newest first, status filters, and which IBXs have orders. The included columns let a
            # page's ids be read from the index alone.
            models.Index(fields=["organization", "visit_start", "id"], include=["visit_end"], name="order_org_visit"),
            models.Index(
                fields=["organization", "-created_at", "-id"],
                include=["visit_start", "status"],
                name="order_org_newest",
            ),
            models.Index(fields=["organization", "status", "visit_start"], name="order_org_status_visit"),
            models.Index(fields=["organization", "ibx"], name="order_org_ibx"),
            # The searches (selectors.order_text_matches): a trigram index per searched column, on the
            # expression Django's icontains compares (PostgreSQL only, see migration 0012).
            *[
                trigram_index(column, f"order_search_{short}")
                for column, short in zip(ORDER_SEARCHED, ("id", "reference", "upstream_id"), strict=True)
            ],
        ]

    def __str__(self):
        return self.order_id

    @property
    def is_open(self) -> bool:
        return rules.order_is_open(self.status)

    cancellable = modifiable = is_open

    # Parts read with the order by one statement (selectors.order_for_submission, graph_read.py) are kept
    # in `read_parts`; an order read by the ORM gives them through its prefetches or related managers.
    def parts(self, name: str) -> list:
        """The order's "cages", "visitors", "contacts" or "attachments", however they were read, in the order
        they were given (attachments: as they were uploaded), as the one-statement read returns them."""
        read = getattr(self, "read_parts", None)
        if read is not None and name in read:
            return read[name]
        # Sorted here, not by the query: a prefetch's rows are kept, and the database's order of rows
        # without an ORDER BY changes once a row is updated.
        key = (lambda part: (part.created_at, part.pk)) if name == "attachments" else (lambda part: part.pk)
        return sorted(getattr(self, name).all(), key=key)

    def occurrence(self) -> "SeriesOccurrence | None":
        """The series occurrence this order is the visit of, or None for an order of its own."""
        read = getattr(self, "read_parts", None)
        if read is not None and "series_occurrence" in read:
            return read["series_occurrence"]
        try:
            return self.series_occurrence
        except SeriesOccurrence.DoesNotExist:
            return None


class OrderCage(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="cages")
    cage = models.ForeignKey(Cage, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    cabinet = models.ForeignKey(Cabinet, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "cage"], name="order_cage_once")]

    def __str__(self):
        return f"{self.cage} / {self.account.number}" + (f" / {self.cabinet}" if self.cabinet_id else "")


class Person(models.Model):
    """A registered user, or a person typed in with a name, company and email/phone details."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_name = models.CharField(max_length=rules.NAME_MAX, blank=True)
    last_name = models.CharField(max_length=rules.NAME_MAX, blank=True)
    company_name = models.CharField(max_length=rules.NAME_MAX, blank=True)
    details = models.JSONField(default=list, blank=True)  # [{"type": "EMAIL", "value": "..."}]

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        if self.user_id:
            return self.user.display_name()
        return person_name(self.first_name, self.last_name)

    @property
    def email(self) -> str:
        if self.user_id:
            return self.user.email
        return next((d["value"] for d in self.details if d.get("type") == "EMAIL"), "")

    @property
    def phone(self) -> str:
        if self.user_id:
            return self.user.phone
        return next((d["value"] for d in self.details if d.get("type") in ("PHONE", "MOBILE")), "")


def person_search_indexes(prefix: str) -> list:
    """A trigram index on each of a person's searched columns (PERSON_SEARCHED), on the expression Django's
    icontains compares: UPPER(column), the details' JSON as text."""
    return [
        trigram_index(Cast(column, models.TextField()) if column == "details" else column, f"{prefix}_search_{column}")
        for column in PERSON_SEARCHED
    ]


class Visitor(Person):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="visitors")
    # The visitor gets the order's emails and calendar invites (the wizard can leave a person out).
    notify = models.BooleanField("emailed about the visit", default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | (~Q(first_name="") & ~Q(last_name="")),
                name="visitor_registered_or_named",
            ),
        ]
        # The dashboard's search by a typed-in visitor's name (selectors.order_text_matches), the staff's
        # by name and details too (selectors.staff_order_matches).
        indexes = person_search_indexes("visitor")


class Contact(Person):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="contacts")
    contact_type = models.CharField(max_length=16, choices=ContactType.choices)
    availability = models.CharField(max_length=16, choices=Availability.choices, blank=True)
    timezone = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(contact_type="TECHNICAL"), name="one_technical_contact_per_order"
            ),
            models.CheckConstraint(condition=Q(contact_type__in=ContactType.values), name="contact_type_valid"),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(contact_type="TECHNICAL"),
                name="notification_contact_registered",
            ),
        ]
        # The staff's search by a contact's name or details (selectors.staff_order_matches).
        indexes = person_search_indexes("contact")


def _attachment_path(instance, filename) -> str:
    # The stored name is generated: the customer's file name never touches the file system.
    return f"attachments/{instance.organization_id}/{instance.id.hex}"


class Attachment(models.Model):
    """A file uploaded by a member of an organization, checked by its content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments")
    name = models.CharField(max_length=rules.ATTACHMENT_NAME_MAX)
    file = models.FileField(upload_to=_attachment_path, max_length=255)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(size__lte=rules.MAX_ATTACHMENT_BYTES), name="attachment_size_limit"),
        ]

    def __str__(self):
        return self.name


class OrderEvent(models.Model):
    """One thing that happened to an order: the customer's timeline and the reviewers' audit trail."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    from_status = models.CharField(max_length=16, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=OrderStatus.choices, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Follow-up work of the event: its emails went out; the change it records reached the upstream.
    notified_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sent_upstream_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        text = self.get_kind_display()
        if self.to_status:
            before = f"{self.get_from_status_display()} → " if self.from_status else ""
            text += f": {before}{self.get_to_status_display()}"
        return text


class SentEmail(models.Model):
    """An email claimed before it is sent, so that retries send it at most once to each recipient."""

    notice = models.CharField(max_length=64)  # e.g. "submitted", "modified:3", "reminder"; "invite:3", "paused:17"
    recipient = models.EmailField()
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.notice} to {self.recipient}"


class SentNotification(SentEmail):
    """An email sent for an order: at most one per order, notice and recipient, whatever retries happen."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notifications")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "notice", "recipient"], name="notify_once"),
        ]


class CalendarFeed(models.Model):
    """A user's private calendar feed of the organization's upcoming visits; the URL's token is stored hashed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"calendar feed of {self.user}"


class ApiClient(models.Model):
    """Client credentials of the JSON API; a call acts as `user` with the user's permissions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_clients")
    name = models.CharField(max_length=100, blank=True)
    client_id = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["secret_hash", "last_used_at"])

    def __str__(self):
        return f"{self.client_id} ({self.user})"


class ApiToken(models.Model):
    """A bearer token, stored as its hash."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"token of {self.client.client_id} until {self.expires_at:%Y-%m-%d %H:%M}Z"


class UpstreamCall(models.Model):
    """One HTTP call to the upstream, for the operators: what, how long, how it ended."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)  # when the request left
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="upstream_calls")
    method = models.CharField(max_length=10)
    url = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    correlation_id = models.CharField(max_length=100, blank=True)
    request_body = models.JSONField(null=True, blank=True)  # redacted
    response_body = models.TextField(blank=True)  # redacted, truncated
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.method} {self.url} → {self.status_code or self.error[:40]}"


class LocationSync(models.Model):
    """A run of the locations import (from the upstream or a CSV): what it created, changed and retired."""

    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=20)  # "upstream" or "csv"
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.source} import {self.created_at:%Y-%m-%d %H:%M}Z"


# ---------------------------------------------------------------------------------------------
# Visit series: a recurrence of work visits, each occurrence an ordinary order created a lead time
# before it (workvisits/series.py).
def new_series_id() -> str:
    """A new series id, WS- and ten characters, in the order ids' alphabet."""
    return "WS-" + _new_order_id().removeprefix("WV-")


class VisitSeries(models.Model):
    """A recurring work visit: an RFC 5545 RRULE in the IBX's local time and the order's template."""

    series_id = models.CharField(max_length=32, unique=True, default=new_series_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="visit_series")
    ibx = models.ForeignKey(IBX, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_series")
    recurrence = models.CharField(max_length=300)  # normalized (UNTIL in UTC), without DTSTART
    # The create body without the visit times, as the latest change left it (each occurrence keeps its own).
    template = models.JSONField(default=dict)
    # Positions in the template's visitors of the people the wizard marked "Do not email this person".
    left_out_visitors = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=SeriesStatus.choices, default=SeriesStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    # The recurring calendar invite: its UID, its SEQUENCE, and the SEQUENCE last emailed.
    invite_uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    invite_sequence = models.PositiveIntegerField(default=0)
    invite_sent_sequence = models.IntegerField(null=True, blank=True)
    invite_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "visit series"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SeriesStatus.values), name="series_status_valid"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="series_org_newest")]

    def __str__(self):
        return self.series_id


class SeriesOccurrence(models.Model):
    """One visit of a series: where the rule put it, when it is now, and its order once created."""

    series = models.ForeignKey(VisitSeries, on_delete=models.CASCADE, related_name="occurrences")
    # Where the rule put it: the invite's RECURRENCE-ID and EXDATE; the visit times may have moved since.
    recurrence_start = models.DateTimeField()
    recurrence_end = models.DateTimeField()
    visit_start = models.DateTimeField()
    visit_end = models.DateTimeField()
    template = models.JSONField(default=dict)  # the body its order is created with (without the times)
    left_out_visitors = models.JSONField(default=list, blank=True)  # as the series', for its order's visitors
    status = models.CharField(max_length=16, choices=OccurrenceStatus.choices, default=OccurrenceStatus.PLANNED)
    # At most one order per occurrence, whatever runs at once (the unique key is the last word).
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="series_occurrence"
    )
    reason = models.TextField(blank=True)  # why it was not created, in words
    owner_told_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recurrence_start"]
        constraints = [
            models.UniqueConstraint(fields=["series", "recurrence_start"], name="occurrence_once"),
            models.CheckConstraint(condition=Q(status__in=OccurrenceStatus.values), name="occurrence_status_valid"),
            models.CheckConstraint(
                condition=Q(visit_end__gt=models.F("visit_start")), name="occurrence_end_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(status="CREATED") | Q(order__isnull=False), name="created_occurrence_has_order"
            ),
        ]
        indexes = [models.Index(fields=["status", "visit_start"], name="occurrence_due")]

    def __str__(self):
        return f"{self.series.series_id} at {self.visit_start:%Y-%m-%d %H:%M}Z"

    @property
    def shown_status(self) -> str:
        """The order's status once it exists, else the occurrence's own."""
        return self.order.status if self.order_id else self.status


class SeriesEmail(SentEmail):
    """An email of a series (its invite, a pause): at most one per series, notice and recipient."""

    series = models.ForeignKey(VisitSeries, on_delete=models.CASCADE, related_name="emails")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "notice", "recipient"], name="series_email_once"),
        ]


# Webhooks: an organization's endpoints, told of its orders' events (workvisits/webhooks.py).
WEBHOOK_URL_MAX = 500


class WebhookEndpoint(models.Model):
    """An organization's HTTPS endpoint, sent a signed JSON body for each event it subscribes to.

    The signing secret is not stored: it is HMAC-SHA-256(WEBHOOKS_SECRET_KEY, secret_nonce), derived
    again for each delivery and shown to the customer once, at registration. A copy of the database
    alone reveals no secret; rotating WEBHOOKS_SECRET_KEY changes every endpoint's secret.
    """

    endpoint_id = models.UUIDField("endpoint id", default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField("URL", max_length=WEBHOOK_URL_MAX)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types sent to this endpoint.")
    secret_nonce = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt has failed (cleared by a success): a day of it disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "created_at", "id"]
        permissions = [("manage_org_webhooks", "Can manage the organization's webhook endpoints")]
        indexes = [models.Index(fields=["organization", "active"], name="webhook_endpoint_org_active")]

    def __str__(self):
        return f"{self.url} ({self.organization})"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, written in the transaction that records the event."""

    delivery_id = models.UUIDField("delivery id", default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_type = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim while it sends this delivery.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The in-order check: an earlier delivery of the same order to the same endpoint still pending.
            models.Index(fields=["endpoint", "order", "id"], name="webhook_delivery_sequence"),
            # The sweeper: pending deliveries that are due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="PENDING"), name="webhook_delivery_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=WebhookDeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.event_type} of {self.order_id} to {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, how it ended, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"attempt at {self.started_at:%Y-%m-%d %H:%M:%S}Z → {self.response_code or self.error[:40]}"
