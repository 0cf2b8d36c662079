"""Step 4: the technical and notification contacts."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from ... import rules
from ...choices import Availability, ContactType
from ..messages import Names
from .common import StepForm, apply_rule_errors, detail_field, person_details, split_path, user_choices


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
                details=person_details(self._text("tech_email"), self._text("tech_phone")),
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
            return detail_field(sub, self._text("tech_email"), "tech_email", "tech_phone")
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
