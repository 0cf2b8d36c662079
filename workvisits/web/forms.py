"""The forms of the customer pages. Every check is the rules module's; forms map its JSON paths onto fields.

Each wizard step knows how to write its part of the Work Visits v2 create body (`body()`) and which of
its fields a JSON path names (`field_for(path)`), so a rule broken at the last moment is shown at the
field that caused it.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from .. import recurrence, rules
from ..choices import Availability, ContactType, DetailType, PurchaseOrderType
from .messages import Names, humanize

_INDEX = re.compile(r"^\[(\d+)\]")


def apply_rule_errors(form, errors, field_for, names: Names | None = None) -> None:
    """Show each RuleError at the field its path names (or on the form as a whole), in words."""
    for error in errors:
        field = field_for(error.path)
        if field is not None and field not in form.fields:
            field = None
        form.add_error(field, humanize(error.path, error.message, names))


def split_path(path: str, prefix: str) -> tuple[int | None, str]:
    """`details.cages[2].accountNumber` under `details.cages` gives (2, "accountNumber")."""
    if not path.startswith(prefix):
        return None, ""
    rest = path[len(prefix) :]
    match = _INDEX.match(rest)
    if not match:
        return None, rest.lstrip(".")
    return int(match.group(1)), rest[match.end() :].lstrip(".").split(":")[0].strip()


def _person_details(email: str, phone: str) -> list[dict]:
    details = []
    if email:
        details.append({"type": DetailType.EMAIL, "value": email})
    if phone:
        details.append({"type": DetailType.PHONE, "value": phone})
    return details


def _detail_field(sub: str, email: str, email_field: str, phone_field: str) -> str:
    """Which of the email/phone fields `details[k]...` names, given whether an email was written first."""
    if not sub.startswith("details["):
        return email_field
    index = int(sub[len("details[") : sub.index("]")])
    if email:
        return email_field if index == 0 else phone_field
    return phone_field


def user_choices(users) -> list[tuple[str, str]]:
    return [(u.username, f"{u.display_name()} ({u.username})" if u.get_full_name() else u.username) for u in users]


class StepForm(forms.Form):
    """A wizard step: the rules' context, the ordering user, and the step's part of the create body."""

    step_title = ""

    def __init__(self, *args, user=None, ctx: rules.OrderingContext | None = None, **kwargs):
        self.user = user
        self.ctx = ctx
        super().__init__(*args, **kwargs)

    def body(self) -> dict:
        return {}

    def field_for(self, path: str) -> str | None:
        return None


# ---------------------------------------------------------------------------------------------
# 1. Location
def cage_key(cage_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", cage_id)


class LocationForm(StepForm):
    step_title = "Location"
    ibx = forms.ChoiceField(label="IBX (data centre)")
    cages = forms.MultipleChoiceField(label="Cages to visit", required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.locations = list(locations)
        self.fields["ibx"].choices = [("", "Choose an IBX…")] + [
            (ibx.code, f"{ibx.code} · {ibx.name}") for ibx in self.locations
        ]
        self.cage_rows = {}  # cage_id -> (cage, ibx)
        cage_choices = []
        for ibx in self.locations:
            for cage in ibx.orderable_cages:
                key = cage_key(cage.cage_id)
                self.cage_rows[cage.cage_id] = (cage, ibx)
                cage_choices.append((cage.cage_id, cage.cage_id))
                accounts = cage.orderable_accounts
                self.fields[f"account_{key}"] = forms.ChoiceField(
                    label=f"Account for cage {cage.cage_id}",
                    required=False,
                    choices=([] if len(accounts) == 1 else [("", "Choose an account…")])
                    + [(a.number, self.account_label(a)) for a in accounts],
                )
                self.fields[f"cabinet_{key}"] = forms.ChoiceField(
                    label=f"Cabinet in cage {cage.cage_id} (optional)",
                    required=False,
                    choices=[("", "No specific cabinet")]
                    + [(c.cabinet_id, c.cabinet_id) for a in accounts for c in a.cage_cabinets],
                )
        self.fields["cages"].choices = cage_choices
        if len(self.locations) == 1 and not self.is_bound:
            self.initial.setdefault("ibx", self.locations[0].code)

    @staticmethod
    def account_label(account) -> str:
        label = f"{account.number} · {account.name}"
        if account.is_credit_hold:
            label += " — on credit hold, cannot order"
        elif account.is_po_bearing:
            label += " — needs a purchase order"
        return label

    def selected_ibx(self):
        code = self.data.get(self.add_prefix("ibx")) if self.is_bound else self.initial.get("ibx")
        return next((ibx for ibx in self.locations if ibx.code == code), None)

    def rows_for(self, ibx):
        """The cage rows of one IBX for the template: cage, its checkbox state and its two selects."""
        if ibx is None:
            return []
        selected = set(self.data.getlist(self.add_prefix("cages")) if self.is_bound else self.initial.get("cages", []))
        rows = []
        for cage in ibx.orderable_cages:
            key = cage_key(cage.cage_id)
            account_field = self[f"account_{key}"]
            account_value = account_field.value() or (
                cage.orderable_accounts[0].number if len(cage.orderable_accounts) == 1 else ""
            )
            cabinets = [c for a in cage.orderable_accounts if a.number == account_value for c in a.cage_cabinets]
            rows.append(
                {
                    "cage": cage,
                    "key": key,
                    "checked": cage.cage_id in selected,
                    "account": account_field,
                    "account_value": account_value,
                    "accounts": cage.orderable_accounts,
                    "cabinet": self[f"cabinet_{key}"],
                    "cabinets": cabinets,
                }
            )
        return rows

    def clean(self):
        cleaned = super().clean()
        ibx = cleaned.get("ibx")
        if not ibx:
            return cleaned
        raw = []
        for cage_id in cleaned.get("cages") or []:
            cage, cage_ibx = self.cage_rows[cage_id]
            if cage_ibx.code != ibx:
                self.add_error("cages", f"Cage {cage_id} is in {cage_ibx.code}, not {ibx}; untick it or change IBX.")
                continue
            key = cage_key(cage_id)
            item = {"id": cage_id}
            if cleaned.get(f"account_{key}"):
                item["accountNumber"] = cleaned[f"account_{key}"]
            if cleaned.get(f"cabinet_{key}"):
                item["cabinetId"] = cleaned[f"cabinet_{key}"]
            raw.append(item)
        self.raw_cages = raw
        errors, self.clean_cages = rules.cages_errors_and_clean(raw, self.ctx)
        apply_rule_errors(self, errors, self.field_for, Names(cages=[c["id"] for c in raw]))
        return cleaned

    def field_for(self, path):
        index, sub = split_path(path, "details.cages")
        if index is None:
            return "cages" if path.startswith("details.cages") else None
        if index >= len(getattr(self, "raw_cages", [])):
            return "cages"
        key = cage_key(self.raw_cages[index]["id"])
        return {"accountNumber": f"account_{key}", "cabinetId": f"cabinet_{key}"}.get(sub.split(".")[0], "cages")

    def body(self):
        return {"details": {"cages": self.raw_cages}}

    # Facts the later steps need.
    def ibx_object(self):
        return next(ibx for ibx in self.locations if ibx.code == self.cleaned_data["ibx"])

    def po_bearing_accounts(self) -> list[str]:
        """Accounts of the chosen cages that need a purchase order (step 5 asks for one)."""
        return sorted(
            {
                c.account_number
                for c in self.clean_cages
                if self.ctx.cages[c.cage_id].accounts[c.account_number].is_po_bearing
            }
        )


# ---------------------------------------------------------------------------------------------
# 2. Schedule
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT)

    def __init__(self, **kwargs):
        super().__init__(input_formats=[LOCAL_INPUT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"], **kwargs)

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and rules.to_utc(result) is None:
            raise forms.ValidationError("Choose a date and time before the year 9999.", code="out_of_range")
        return result


class ZonedForm(StepForm):
    """A form whose date-times are typed in the IBX's zone; cleaned values are UTC."""

    def __init__(self, *args, zone_name: str = "UTC", **kwargs):
        self.zone_name = zone_name
        super().__init__(*args, **kwargs)

    def full_clean(self):
        with timezone.override(self.zone_name):
            super().full_clean()

    def utc(self, name):
        value = self.cleaned_data.get(name)
        return value.astimezone(UTC) if value else None


class ScheduleForm(ZonedForm):
    step_title = "Schedule"
    start = LocalDateTimeField(label="Visit start")
    end = LocalDateTimeField(label="Visit end")
    open_cabinet = forms.BooleanField(
        label="Open the cabinet for the visitors",
        required=False,
        help_text="Tick if the data centre staff should unlock the cabinet when the visitors arrive.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The prefilled defaults are shown in UTC too, before anything is typed.
        zone = ZoneInfo(self.zone_name)
        self.start_utc, self.end_utc = (
            value.replace(tzinfo=zone).astimezone(UTC) if isinstance(value, datetime) and not self.is_bound else None
            for value in (self.initial.get("start"), self.initial.get("end"))
        )

    # A series of visits (workvisits/series.py): the same visit repeated, each ordered ahead as its own.
    repeat = forms.ChoiceField(
        label="Repeat",
        choices=recurrence.REPEAT_CHOICES,
        required=False,
        help_text="Each visit becomes its own work visit, ordered a few days ahead, at the same local time.",
    )
    repeat_count = forms.IntegerField(
        label="Number of visits", min_value=2, max_value=recurrence.MAX_OCCURRENCES, required=False
    )

    def clean(self):
        cleaned = super().clean()
        # Kept apart from cleaned_data, which loses a value once an error is added to its field.
        self.start_utc, self.end_utc = self.utc("start"), self.utc("end")
        errors = rules.schedule_errors(self.start_utc, self.end_utc, self.ctx.now if self.ctx else timezone.now())
        apply_rule_errors(self, errors, self.field_for)
        if cleaned.get("repeat") and not cleaned.get("repeat_count"):
            self.add_error("repeat_count", "Say how many visits the series has.")
        elif self.recurrence() and self.start_utc and self.end_utc:
            problems, _ = recurrence.validate_recurrence(
                self.recurrence(), first_start=self.start_utc, first_end=self.end_utc, zone=ZoneInfo(self.zone_name)
            )
            apply_rule_errors(self, problems, self.field_for)
        return cleaned

    def recurrence(self) -> str:
        """The RRULE of the repeat chosen ("" when the visit does not repeat)."""
        kind, count, start = (self.cleaned_data.get(k) for k in ("repeat", "repeat_count", "start"))
        if not (kind and count and start):
            return ""
        return recurrence.rule_for_repeat(kind, count, start.astimezone(ZoneInfo(self.zone_name)))

    def field_for(self, path):
        return {
            "details.visitStartDateTime": "start",
            "details.visitEndDateTime": "end",
            "details.openCabinet": "open_cabinet",
            "recurrence": "repeat",
        }.get(path)

    def body(self):
        body = {
            "details": {
                "visitStartDateTime": rules.format_datetime(self.utc("start")),
                "visitEndDateTime": rules.format_datetime(self.utc("end")),
                "openCabinet": bool(self.cleaned_data.get("open_cabinet")),
            }
        }
        if self.recurrence():
            body["recurrence"] = self.recurrence()
        return body


# ---------------------------------------------------------------------------------------------
# 3. Visitors
class PersonForm(forms.Form):
    """A person typed in: name as on the photo ID, company, and an email or a phone."""

    first_name = forms.CharField(label="First name", required=False, max_length=rules.NAME_MAX)
    last_name = forms.CharField(label="Last name", required=False, max_length=rules.NAME_MAX)
    company_name = forms.CharField(label="Company", required=False, max_length=rules.NAME_MAX)
    email = forms.CharField(label="Email", required=False, max_length=rules.DETAIL_VALUE_MAX, widget=forms.EmailInput())
    phone = forms.CharField(
        label="Phone", required=False, max_length=rules.DETAIL_VALUE_MAX, widget=forms.TextInput(attrs={"type": "tel"})
    )
    leave_out = forms.BooleanField(
        label="Do not email this person",
        required=False,
        help_text="Otherwise a visitor with an email address gets the emails and calendar invites of the visit.",
    )

    def is_blank(self) -> bool:
        return not any((self.cleaned_data.get(f) or "").strip() for f in self.fields if f != "leave_out")

    def value(self, name) -> str:
        return (self.cleaned_data.get(name) or "").strip()

    def person(self) -> dict:
        return {
            "firstName": self.value("first_name"),
            "lastName": self.value("last_name"),
            "companyName": self.value("company_name"),
            "details": _person_details(self.value("email"), self.value("phone")),
        }

    def field_for_sub(self, sub: str) -> str:
        key = sub.split(".")[0].split("[")[0]
        if key == "details":
            return _detail_field(sub, self.value("email"), "email", "phone")
        return {"firstName": "first_name", "lastName": "last_name", "companyName": "company_name"}.get(
            key, "first_name"
        )


class VisitorPickerForm(forms.Form):
    registered = forms.MultipleChoiceField(
        label="Registered users of your organization", required=False, widget=forms.CheckboxSelectMultiple
    )
    recent = forms.MultipleChoiceField(
        label="Visitors your organization named recently", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, users=(), recent=(), **kwargs):
        super().__init__(*args, **kwargs)
        users = list(users)
        self.fields["registered"].choices = user_choices(users)
        self.user_names = {u.username: u.display_name() for u in users}
        self.recent_visitors = {str(v.pk): v for v in recent}
        self.fields["recent"].choices = [
            (str(v.pk), f"{v.first_name} {v.last_name} · {v.company_name} · {v.email or v.phone}") for v in recent
        ]


class BaseVisitorFormSet(forms.BaseFormSet):
    """Visitors: registered users picked by name, recent visitors picked again, and people typed in."""

    step_title = "Visitors"

    def __init__(self, *args, user=None, ctx=None, users=(), recent=(), **kwargs):
        self.user, self.ctx = user, ctx
        super().__init__(*args, **kwargs)
        self.picker = VisitorPickerForm(
            self.data if self.is_bound else None, prefix=self.prefix, users=users, recent=recent
        )

    def clean(self):
        if any(self.errors) or not self.picker.is_valid():
            return
        raw, self.targets = [], []
        for username in self.picker.cleaned_data["registered"]:
            raw.append({"registeredUsers": [username]})
            self.targets.append(("registered", None))
        for pk in self.picker.cleaned_data["recent"]:
            visitor = self.picker.recent_visitors[pk]
            raw.append(
                {
                    "firstName": visitor.first_name,
                    "lastName": visitor.last_name,
                    "companyName": visitor.company_name,
                    "details": visitor.details,
                }
            )
            self.targets.append(("recent", None))
        for form in self.forms:
            if form.is_blank():
                continue
            raw.append(form.person())
            self.targets.append(("row", form))
        self.raw_visitors = raw
        errors, _ = rules.visitors_errors_and_clean(raw, self.ctx)
        names = self.names()
        problems = []
        for error in errors:
            message = humanize(error.path, error.message, names)
            index, sub = split_path(error.path, "details.visitors")
            if index is None or index >= len(self.targets):
                problems.append(message)
                continue
            kind, form = self.targets[index]
            if kind == "row":
                form.add_error(form.field_for_sub(sub) if sub else None, message)
            else:
                self.picker.add_error(kind, message)
        if problems:
            raise forms.ValidationError(problems)

    def is_valid(self):
        valid = super().is_valid()
        return valid and not self.picker.errors

    def names(self) -> Names:
        """Each visitor as the page shows it: "Person 2 (Jane Doe)" is the second row of people typed in."""
        labels = []
        for (kind, form), raw in zip(self.targets, self.raw_visitors, strict=True):
            if kind == "row":
                number = self.forms.index(form) + 1
                name = f"{raw['firstName']} {raw['lastName']}".strip()
                labels.append(f"Person {number}" + (f" ({name})" if name else ""))
            elif kind == "registered":
                username = raw["registeredUsers"][0]
                labels.append(f"Visitor {self.picker.user_names.get(username, username)}")
            else:
                labels.append(f"Visitor {raw['firstName']} {raw['lastName']}")
        return Names.from_body({"details": {"visitors": self.raw_visitors}}, visitors=labels)

    def target_field(self, path: str) -> str | None:
        """Where a visitor's error is shown when the service finds it: "registered", "recent" or "<row>-<field>"."""
        index, sub = split_path(path, "details.visitors")
        if index is None or index >= len(self.targets):
            return None
        kind, form = self.targets[index]
        if kind != "row":
            return kind
        return f"{self.forms.index(form)}-{form.field_for_sub(sub) if sub else 'first_name'}"

    def body(self):
        return {"details": {"visitors": self.raw_visitors}}

    def left_out_indexes(self) -> list[int]:
        """Positions in the body's visitors of the people typed in who are not to be emailed."""
        return [
            i for i, (kind, form) in enumerate(self.targets) if kind == "row" and form.cleaned_data.get("leave_out")
        ]

    def field_for(self, path):
        return None


VisitorFormSet = forms.formset_factory(PersonForm, formset=BaseVisitorFormSet, extra=1, max_num=rules.MAX_VISITORS)


# ---------------------------------------------------------------------------------------------
# 4. Contacts
@functools.cache
def _zone_names() -> tuple[str, ...]:
    """The IANA zones the rules accept: UTC and the Area/Location names (not legacy ones like "EST5EDT")."""
    names = (n for n in zoneinfo.available_timezones() if n == "UTC" or "/" in n)
    return tuple(sorted(n for n in names if rules.valid_timezone(n)))


def timezone_choices(now: datetime | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones grouped by area (Africa, America, ...), each labelled with its UTC offset now:
    ``Europe/Amsterdam (UTC+01:00)``."""
    now = now or timezone.now()
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in _zone_names():
        offset = now.astimezone(ZoneInfo(name)).strftime("%z")
        label = f"{name.replace('_', ' ')} (UTC{offset[0]}{offset[1:3]}:{offset[3:]})"
        groups.setdefault(name.split("/")[0], []).append((name, label))
    return list(groups.items())


TECHNICAL_CHOICES = [("me", "Me"), ("user", "Another registered user"), ("person", "Someone else (type in)")]


class ContactsForm(StepForm):
    step_title = "Contacts"
    technical = forms.ChoiceField(
        label="Technical contact", choices=TECHNICAL_CHOICES, initial="me", widget=forms.RadioSelect
    )
    technical_user = forms.ChoiceField(label="Registered user", required=False)
    tech_first_name = forms.CharField(label="First name", required=False, max_length=rules.NAME_MAX)
    tech_last_name = forms.CharField(label="Last name", required=False, max_length=rules.NAME_MAX)
    tech_company_name = forms.CharField(label="Company", required=False, max_length=rules.NAME_MAX)
    tech_email = forms.CharField(label="Email", required=False, widget=forms.EmailInput())
    tech_phone = forms.CharField(label="Phone", required=False, widget=forms.TextInput(attrs={"type": "tel"}))
    availability = forms.ChoiceField(
        label="Availability", choices=Availability.choices, initial=Availability.WORK_HOURS
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Where the technical contact is; the IBX's zone unless you choose another.",
        error_messages={
            "invalid_choice": (
                "The technical contact's time zone '%(value)s' is not a time zone; choose one from the list."
            )
        },
    )
    notification = forms.MultipleChoiceField(
        label="Notification contacts",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="They receive the emails about this order. If you pick none, you do.",
    )

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        users = list(users)
        me = self.user.username if self.user else ""
        self.fields["technical"].choices = [
            ("me", f"Me ({self.user.display_name()})" if self.user else "Me"),
            *TECHNICAL_CHOICES[1:],
        ]
        self.fields["technical_user"].choices = [("", "Choose a user…")] + user_choices(
            u for u in users if u.username != me
        )
        self.fields["notification"].choices = user_choices(users)
        self.fields["timezone"].choices = [("", "Not given"), *timezone_choices()]

    def _text(self, name):
        return (self.cleaned_data.get(name) or "").strip()

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        me = self.user.username
        technical = {"type": ContactType.TECHNICAL, "availability": cleaned.get("availability") or ""}
        if self._text("timezone"):
            technical["timezone"] = self._text("timezone")
        choice = cleaned.get("technical")
        if choice == "user":
            if not cleaned.get("technical_user"):
                self.add_error("technical_user", "Choose the registered user who is the technical contact.")
                return cleaned
            technical["registeredUsers"] = [cleaned["technical_user"]]
        elif choice == "person":
            technical.update(
                firstName=self._text("tech_first_name"),
                lastName=self._text("tech_last_name"),
                companyName=self._text("tech_company_name"),
                details=_person_details(self._text("tech_email"), self._text("tech_phone")),
            )
        else:
            technical["registeredUsers"] = [me]
        self.raw_contacts = [technical] + [
            {"registeredUsers": [name], "type": ContactType.NOTIFICATION} for name in cleaned.get("notification", [])
        ]
        errors, _ = rules.contacts_errors_and_clean(self.raw_contacts, self.ctx, me)
        apply_rule_errors(self, errors, self.field_for, Names.from_body({"contacts": self.raw_contacts}))
        return cleaned

    def field_for(self, path):
        index, sub = split_path(path, "contacts")
        if index is None:
            return "technical" if path == "contacts" else None
        if index > 0:
            return "notification"
        key = sub.split(".")[0].split("[")[0]
        if key == "details":
            return _detail_field(sub, self._text("tech_email"), "tech_email", "tech_phone")
        return {
            "registeredUsers": "technical_user" if self.cleaned_data.get("technical") == "user" else "technical",
            "firstName": "tech_first_name",
            "lastName": "tech_last_name",
            "companyName": "tech_company_name",
            "availability": "availability",
            "timezone": "timezone",
        }.get(key, "technical")

    def body(self):
        return {"contacts": self.raw_contacts}


# ---------------------------------------------------------------------------------------------
# 5. Details
class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        return [str(v) for v in value or [] if str(v).strip()]


# Which purchase-order fields each type asks for.
PO_FIELDS = {
    PurchaseOrderType.EXEMPTED: (),
    PurchaseOrderType.NEW: ("po_amount", "po_start_date", "po_end_date"),
    PurchaseOrderType.EXISTING: ("po_number", "po_amount", "po_start_date", "po_end_date"),
}
PO_KEYS = {"po_number": "number", "po_amount": "amount", "po_start_date": "startDate", "po_end_date": "endDate"}


class DetailsForm(StepForm):
    step_title = "Details"
    description = forms.CharField(
        label="Description of the work",
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "maxlength": rules.DESCRIPTION_MAX,
                "data-counter": "description-count",
                "data-min": rules.DESCRIPTION_MIN,
                "data-max": rules.DESCRIPTION_MAX,
            }
        ),
        required=False,
        help_text=f"What the visitors will do, in {rules.DESCRIPTION_MIN} to {rules.DESCRIPTION_MAX} characters.",
    )
    customer_reference = forms.CharField(
        label="Your reference (optional)",
        required=False,
        widget=forms.TextInput(attrs={"maxlength": rules.CUSTOMER_REFERENCE_MAX}),
        help_text=f"Your own ticket or order number, up to {rules.CUSTOMER_REFERENCE_MAX} characters.",
    )
    po_type = forms.ChoiceField(
        label="Purchase order", required=False, choices=[("", "No purchase order"), *PurchaseOrderType.choices]
    )
    po_number = forms.CharField(label="Purchase order number", required=False)
    po_amount = forms.CharField(label="Amount", required=False)
    po_start_date = forms.CharField(label="Valid from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    po_end_date = forms.CharField(label="Valid until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    attachments = IdListField(label="Attachments", required=False)

    def __init__(self, *args, po_bearing=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.po_bearing = list(po_bearing)
        if self.po_bearing:
            # The account refuses an exemption, so it is not offered.
            needs = f"Account {', '.join(self.po_bearing)} needs a purchase order: choose New or Existing."
            field = self.fields["po_type"]
            field.choices = [
                ("", "Choose…"),
                *[c for c in PurchaseOrderType.choices if c[0] != PurchaseOrderType.EXEMPTED],
            ]
            field.help_text = needs
            field.error_messages["invalid_choice"] = needs

    def clean(self):
        cleaned = super().clean()
        errors, _ = rules.description_errors_and_clean(cleaned.get("description", ""))
        reference = (cleaned.get("customer_reference") or "").strip()
        errors += rules.customer_reference_errors_and_clean(reference or None)[0]
        po = None
        if cleaned.get("po_type"):
            po = {"type": cleaned["po_type"]}
            for name in PO_FIELDS.get(cleaned["po_type"], ()):
                if (cleaned.get(name) or "").strip():
                    po[PO_KEYS[name]] = cleaned[name].strip()
        self.raw_po = po
        errors += rules.purchase_order_errors_and_clean(po, self.po_bearing, self.ctx)[0]
        self.raw_attachments = [{"id": a} for a in cleaned.get("attachments") or []]
        errors += rules.attachments_errors_and_clean(self.raw_attachments, self.ctx)[0]
        apply_rule_errors(self, errors, self.field_for, Names(attachments=self.attachment_names()))
        return cleaned

    def attachment_names(self) -> list[str]:
        known = self.ctx.attachments if self.ctx else {}
        return [known[a["id"]].name if a["id"] in known else "" for a in self.raw_attachments]

    def field_for(self, path):
        if path == "description":
            return "description"
        if path == "customerReferenceId":
            return "customer_reference"
        if path.startswith("attachments"):
            return "attachments"
        if path.startswith("purchaseOrder"):
            sub = path[len("purchaseOrder") :].lstrip(".")
            return {v: k for k, v in PO_KEYS.items()}.get(sub, "po_type")
        return None

    def body(self):
        body = {"description": self.cleaned_data["description"].strip()}
        if (self.cleaned_data.get("customer_reference") or "").strip():
            body["customerReferenceId"] = self.cleaned_data["customer_reference"].strip()
        if self.raw_po:
            body["purchaseOrder"] = self.raw_po
        if self.raw_attachments:
            body["attachments"] = self.raw_attachments
        return body


class ReviewForm(StepForm):
    step_title = "Review"


# ---------------------------------------------------------------------------------------------
# The order page's actions.
class RescheduleForm(ZonedForm):
    start = LocalDateTimeField(label="New visit start")
    end = LocalDateTimeField(label="New visit end")
    open_cabinet = forms.BooleanField(label="Open the cabinet for the visitors", required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def body(self) -> dict:
        return {
            "details": {
                "visitStartDateTime": rules.format_datetime(self.utc("start")),
                "visitEndDateTime": rules.format_datetime(self.utc("end")),
                "openCabinet": bool(self.cleaned_data.get("open_cabinet")),
            }
        }

    def field_for(self, path):
        return ScheduleForm.field_for(self, path)


class NotificationContactForm(StepForm):
    username = forms.ChoiceField(label="Add a notification contact")
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].choices = [("", "Choose a user…")] + user_choices(users)

    def body(self) -> dict:
        return {"contacts": [{"registeredUsers": [self.cleaned_data["username"]], "type": ContactType.NOTIFICATION}]}

    def field_for(self, path):
        return "username" if path.startswith("contacts") else None


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why cancel?",
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": rules.CANCEL_REASON_MAX}),
        help_text=f"{rules.CANCEL_REASON_MIN} to {rules.CANCEL_REASON_MAX} characters; the data centre sees it.",
        required=False,
    )
    confirm = forms.BooleanField(
        label="Yes, cancel this work visit",
        required=True,
        error_messages={"required": "Tick the box to confirm that the visit is to be cancelled."},
    )

    def field_for(self, path: str) -> str | None:
        return "reason" if path == "reason" else None

    def clean_reason(self):
        reason = self.cleaned_data.get("reason") or ""
        for error in rules.cancel_reason_errors(reason):
            raise forms.ValidationError(error.message)
        return reason.strip()


class OrderFilterForm(forms.Form):
    WHEN = [("", "Any date"), ("upcoming", "Upcoming"), ("past", "Past")]
    q = forms.CharField(
        label="Search",
        required=False,
        widget=forms.SearchInput(attrs={"placeholder": "Order id, your reference or visitor name"}),
    )
    status = forms.ChoiceField(label="Status", required=False)
    ibx = forms.ChoiceField(label="IBX", required=False)
    when = forms.ChoiceField(label="When", required=False, choices=WHEN)

    def __init__(self, *args, ibxs=(), **kwargs):
        from ..choices import OrderStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *OrderStatus.choices]
        self.fields["ibx"].choices = [("", "Any IBX")] + [(code, code) for code in ibxs]
