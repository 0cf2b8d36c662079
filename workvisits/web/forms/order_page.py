"""The order page's actions (reschedule, add a contact, cancel) and the order list's filters."""

from __future__ import annotations

from django import forms

from ... import rules
from ...choices import ContactType, OrderStatus
from .common import StepForm, user_choices
from .schedule import LocalDateTimeField, ScheduleForm, ZonedForm


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
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *OrderStatus.choices]
        self.fields["ibx"].choices = [("", "Any IBX")] + [(code, code) for code in ibxs]
