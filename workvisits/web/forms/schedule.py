"""Step 2: when, in the IBX's time, and how often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from ... import recurrence, rules
from .common import StepForm, apply_rule_errors

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
MINUTE = timedelta(minutes=1)


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT)

    def __init__(self, **kwargs):
        super().__init__(input_formats=[LOCAL_INPUT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"], **kwargs)

    def to_python(self, value):
        try:
            result = super().to_python(value)
        except forms.ValidationError as error:
            if error.code == "ambiguous_timezone":
                raise clock_change_error(error.params["datetime"], timezone.get_current_timezone()) from None
            raise
        if result is not None and rules.to_utc(result) is None:
            # Outside the instants the portal can store: at the very start of the calendar or at its end.
            if result.year <= rules.EARLIEST_INSTANT.year:
                raise forms.ValidationError(
                    "That date is in the past; choose a date and time from now on.", code="out_of_range"
                )
            raise forms.ValidationError(f"That date is too far ahead. {rules.FAR_AHEAD_HINT}", code="out_of_range")
        return result


def clock_change_error(naive: datetime, zone) -> forms.ValidationError:
    """A local time the IBX's clocks skip (they go forward) or pass twice (they go back), said in words with
    the times around it that are clear."""

    def skipped(local: datetime) -> bool:
        return local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local

    def repeated(local: datetime) -> bool:
        return local.replace(tzinfo=zone, fold=0).utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset()

    unclear = skipped if skipped(naive) else repeated
    first, after = naive, naive
    for _ in range(24 * 60):  # clock changes are an hour or less; the bound keeps a broken zone finite
        if not unclear(first - MINUTE):
            break
        first -= MINUTE
    for _ in range(24 * 60):
        if not unclear(after):
            break
        after += MINUTE
    when = f"{naive:%H:%M} on {naive.day} {naive:%B %Y}"
    if unclear is skipped:
        message = (
            f"{when} does not exist in {zone.key}: the clocks go forward from {first:%H:%M} to {after:%H:%M}. "
            f"Choose a time before {first:%H:%M} or from {after:%H:%M} on."
        )
    else:
        message = (
            f"{when} happens twice in {zone.key}: the clocks go back from {after:%H:%M} to {first:%H:%M}. "
            f"Choose a time before {first:%H:%M} or from {after:%H:%M} on, so the visit's time is clear."
        )
    return forms.ValidationError(message, code="clock_change")


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
