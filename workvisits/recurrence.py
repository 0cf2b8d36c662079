"""The rules of a visit series: its recurrence (an RFC 5545 RRULE) and what a series' template may hold.

Pure like rules.py (no ORM, no HTTP): the services, the API and the pages call these. Occurrences
recur in the IBX's local time (09:00 stays 09:00 across daylight-saving changes): the rule is expanded
in the IBX's zone and every occurrence is returned as UTC instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from . import rules

# Limits, named once. A recurrence must end (COUNT or UNTIL) within these.
MAX_OCCURRENCES = 100
MAX_SPAN = timedelta(days=731)  # from the first visit's start to the last one's: two years (one with a leap day)
RECURRENCE_MAX_LENGTH = 300
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# The longest INTERVAL of each FREQ whose second visit can still start within MAX_SPAN of the first.
MAX_INTERVAL = {"DAILY": MAX_SPAN.days, "WEEKLY": MAX_SPAN.days // 7, "MONTHLY": 24, "YEARLY": 2}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# RFC 5545 (3.3.10): the largest number each numeric BYxxx part may hold (negative counts from the end; never 0)
# and the frequencies it may not be used with.
BY_NUMBERS = {"BYMONTHDAY": 31, "BYYEARDAY": 366, "BYWEEKNO": 53, "BYMONTH": 12, "BYSETPOS": 366}
UNSIGNED = ("BYMONTH",)
NOT_WITH = {
    "BYMONTHDAY": ("WEEKLY",),
    "BYYEARDAY": ("DAILY", "WEEKLY", "MONTHLY"),
    "BYWEEKNO": ("DAILY", "WEEKLY", "MONTHLY"),
}
# The nth weekday (BYDAY=1TU, -1FR) of a month or a year: months have at most five of each weekday.
MAX_NTH_WEEKDAY = {"MONTHLY": 5, "YEARLY": 53}
# BYSETPOS picks among the days of one period of the FREQ: at most this many (a larger one never gives a visit).
MAX_SETPOS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # a leap year's
# The time of day comes from the visit start: no BYHOUR, BYMINUTE or BYSECOND.
PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "BYYEARDAY",
    "BYWEEKNO",
    "WKST",
)
_PART = re.compile(r"^([A-Z]+)=([A-Z0-9,+-]+)$")
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_NUMBER = re.compile(r"^[+-]?\d{1,3}$")
_WEEKDAY = re.compile(rf"^([+-]?\d{{1,2}})?({'|'.join(WEEKDAYS)})$")
EXAMPLE = "FREQ=WEEKLY;BYDAY=TU;COUNT=6"


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # UTC
    end: datetime


@dataclass(frozen=True)
class CleanRecurrence:
    rule: str  # normalized: upper case, UNTIL in UTC
    occurrences: list[Occurrence]


def _invalid(path: str, message: str) -> rules.RuleError:
    return rules.RuleError(path, rules.INVALID, message)


def _normalize_until(value: str, zone: ZoneInfo) -> datetime | None:
    """UNTIL as RFC 5545 wants it beside a zoned start: a UTC instant. A date is the end of that day in
    the IBX, a local time is the IBX's. None when it is no such time or one the portal cannot store."""
    match = _UNTIL.match(value)
    if not match:
        return None
    day, clock, utc = match.groups()
    try:
        moment = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return rules.to_utc(moment.replace(tzinfo=UTC if clock and utc else zone))


def _until_text(moment: datetime) -> str:
    return f"{moment.year:04d}" + moment.strftime("%m%dT%H%M%SZ")  # %Y is not padded before the year 1000


def _numbers_error(key: str, text: str, freq: str) -> str | None:
    """What RFC 5545 says is wrong with a numeric BYxxx list (None: nothing)."""
    if freq in NOT_WITH.get(key, ()):
        return f"{key} cannot be used with FREQ={freq}."
    top, signed = BY_NUMBERS[key], key not in UNSIGNED
    for item in text.split(","):
        well_formed = _NUMBER.match(item) if signed else item.isdigit() and len(item) <= 3
        if not well_formed or not 1 <= abs(int(item)) <= top:
            signs = f" or -{top} to -1 (counted from the end)" if signed else ""
            return f"{key} must list whole numbers from 1 to {top}{signs}, comma-separated; '{item[:12]}' is not one."
    return None


def _byday_error(text: str, freq: str, parts: dict[str, str]) -> tuple[str, bool] | None:
    """What is wrong with BYDAY (weekdays MO..SU, numbered such as 1TU or -1FR only by month or year), and
    whether RFC 5545 says so (or the portal's bound); None: nothing."""
    for item in text.split(","):
        match = _WEEKDAY.match(item)
        if not match:
            return f"BYDAY must list weekdays ({','.join(WEEKDAYS)}), e.g. TU or 1TU; '{item[:12]}' is not one.", True
        nth = match.group(1)
        if nth is None:
            continue
        top = MAX_NTH_WEEKDAY.get(freq)
        if top is None or "BYWEEKNO" in parts:
            return (
                f"BYDAY: a numbered weekday such as {item[:12]} needs FREQ=MONTHLY or FREQ=YEARLY (without "
                "BYWEEKNO); give the weekday alone.",
                True,
            )
        if not 1 <= abs(int(nth)) <= top:
            return (
                f"BYDAY: {item[:12]} is not a weekday of the {'month' if freq == 'MONTHLY' else 'year'}; number it "
                f"from 1 to {top} or -{top} to -1 (the last).",
                freq == "YEARLY" or int(nth) == 0,
            )
    return None


def _parts_error(parts: dict[str, str], path: str) -> str | None:
    """The first part outside RFC 5545's grammar or the portal's bounds, said for `path` (None: all well);
    the parts are rewritten in their plain form (no signs or leading zeros on numbers)."""

    def not_rfc(problem: str) -> str:
        return f"{path} is not a valid RFC 5545 RRULE: {problem}"

    freq = parts["FREQ"]
    if "COUNT" in parts:
        if not (parts["COUNT"].isdigit() and 1 <= int(parts["COUNT"]) <= MAX_OCCURRENCES):
            return f"{path}: COUNT must be a whole number from 1 to {MAX_OCCURRENCES}."
        parts["COUNT"] = str(int(parts["COUNT"]))
    if "INTERVAL" in parts:
        top = MAX_INTERVAL[freq]
        if not (parts["INTERVAL"].isdigit() and 1 <= int(parts["INTERVAL"]) <= top):
            return (
                f"{path}: INTERVAL must be a whole number from 1 to {top} with FREQ={freq}: a longer step puts the "
                f"second visit more than {MAX_SPAN.days} days after the first."
            )
        parts["INTERVAL"] = str(int(parts["INTERVAL"]))
    for key in BY_NUMBERS:
        if key in parts:
            problem = _numbers_error(key, parts[key], freq)
            if problem:
                return not_rfc(problem)
            parts[key] = ",".join(str(int(item)) for item in parts[key].split(","))
    if "BYDAY" in parts:
        found = _byday_error(parts["BYDAY"], freq, parts)
        if found:
            problem, rfc = found
            return not_rfc(problem) if rfc else f"{path}: {problem}"
        days = (_WEEKDAY.match(item).groups() for item in parts["BYDAY"].split(","))
        parts["BYDAY"] = ",".join(f"{int(nth) if nth else ''}{day}" for nth, day in days)
    if "BYSETPOS" in parts and any(abs(int(item)) > MAX_SETPOS[freq] for item in parts["BYSETPOS"].split(",")):
        top = MAX_SETPOS[freq]
        return (
            f"{path}: BYSETPOS picks among the at most {top} day{'s' if top > 1 else ''} of one period of FREQ={freq}; "
            f"number it from 1 to {top} or -{top} to -1."
        )
    if "BYMONTH" in parts and "BYMONTHDAY" in parts:
        months = [int(month) for month in parts["BYMONTH"].split(",")]
        days = [abs(int(day)) for day in parts["BYMONTHDAY"].split(",")]
        if not any(day <= _MONTH_DAYS[month - 1] for month in months for day in days):
            return (
                f"{path}: BYMONTH={parts['BYMONTH']} with BYMONTHDAY={parts['BYMONTHDAY']} gives no day (such as "
                "30 February), so no visit."
            )
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        return not_rfc(f"WKST must be one weekday ({','.join(WEEKDAYS)}).")
    if "BYSETPOS" in parts and not any(key.startswith("BY") and key != "BYSETPOS" for key in parts):
        return not_rfc("BYSETPOS picks among the days another BYxxx part gives (e.g. BYDAY=MO,TU;BYSETPOS=-1).")
    return None


def normalize_rule(value, zone: ZoneInfo, path: str = "recurrence") -> tuple[list[rules.RuleError], str | None]:
    """The RRULE's syntax and the portal's bounds: a frequency of a day or more, and an end (COUNT or UNTIL)."""
    if value is None or value == "":
        return [rules.RuleError(path, rules.MISSING, f"{path} is required: give an RRULE such as {EXAMPLE}.")], None
    if not isinstance(value, str):
        return [_invalid(path, f"{path} must be a string holding an RRULE such as {EXAMPLE}.")], None
    text = value.strip().upper().removeprefix("RRULE:")
    if len(text) > RECURRENCE_MAX_LENGTH:
        return [_invalid(path, f"{path} is longer than {RECURRENCE_MAX_LENGTH} characters.")], None
    if "\n" in text or "\r" in text or "DTSTART" in text:
        return [
            _invalid(path, f"{path} is one RRULE line without DTSTART: the first visit is the visit start you give.")
        ], None
    parts: dict[str, str] = {}
    for piece in filter(None, text.split(";")):
        match = _PART.match(piece)
        if not match:
            return [
                _invalid(path, f"{path}: '{piece[:40]}' is not a NAME=VALUE part of an RRULE such as {EXAMPLE}.")
            ], None
        key, part = match.groups()
        if key not in PARTS:
            return [_invalid(path, f"{path}: {key} is not accepted; use {', '.join(PARTS)}.")], None
        if key in parts:
            return [_invalid(path, f"{path}: {key} is given twice.")], None
        parts[key] = part
    if parts.get("FREQ") not in FREQUENCIES:
        return [_invalid(path, f"{path}: FREQ must be one of {', '.join(FREQUENCIES)}.")], None
    if ("COUNT" in parts) == ("UNTIL" in parts):
        return [
            _invalid(
                path,
                f"{path} must end: give COUNT (at most {MAX_OCCURRENCES} visits) or UNTIL (a date), not both "
                "and not neither.",
            )
        ], None
    problem = _parts_error(parts, path)
    if problem:
        return [_invalid(path, problem)], None
    if "UNTIL" in parts:
        until = _normalize_until(parts["UNTIL"], zone)
        if until is None:
            return [
                _invalid(
                    path,
                    f"{path}: UNTIL must be a date such as 20270630 or a UTC time such as 20270630T000000Z, "
                    f"after the first visit and before the year {rules.LATEST_INSTANT.year}.",
                )
            ], None
        parts["UNTIL"] = _until_text(until)
    rule = ";".join(f"{key}={part}" for key, part in parts.items())
    try:
        rrulestr(rule, dtstart=datetime(2026, 1, 1, tzinfo=zone))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        return [_invalid(path, f"{path} is not a valid RFC 5545 RRULE ({exc}); for example {EXAMPLE}.")], None
    return [], rule


def expand(
    rule: str, *, first_start: datetime, first_end: datetime, zone: ZoneInfo, limit: int | None = None
) -> list[Occurrence]:
    """The occurrences of a (normalized) rule starting at the first visit, in the IBX's wall-clock time:
    each starts at the first visit's local time of day and lasts as long on the wall clock. They stop at
    `limit` (default: one more than MAX_OCCURRENCES) and at the first one starting beyond MAX_SPAN."""
    local_start = first_start.astimezone(zone)
    length = first_end.astimezone(zone).replace(tzinfo=None) - local_start.replace(tzinfo=None)
    starts = rrulestr(rule, dtstart=local_start)
    found = []
    for start in islice(starts, limit if limit is not None else MAX_OCCURRENCES + 1):
        end = (start.replace(tzinfo=None) + length).replace(tzinfo=zone)
        found.append(Occurrence(start.astimezone(UTC), end.astimezone(UTC)))
        if start - local_start > MAX_SPAN:
            break
    return found


def shifted(occurrence: Occurrence, *, delta: timedelta, length: timedelta, zone: ZoneInfo) -> Occurrence:
    """An occurrence moved by `delta` on the IBX's wall clock and lasting `length` (wall clock)."""
    start = occurrence.start.astimezone(zone).replace(tzinfo=None) + delta
    return Occurrence(start.replace(tzinfo=zone).astimezone(UTC), (start + length).replace(tzinfo=zone).astimezone(UTC))


def wall_clock(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, timedelta]:
    """The local (naive) start and the wall-clock length of a visit."""
    local = start.astimezone(zone).replace(tzinfo=None)
    return local, end.astimezone(zone).replace(tzinfo=None) - local


def occurrences_errors(
    occurrences: list[Occurrence], first_start: datetime, path: str = "recurrence"
) -> list[rules.RuleError]:
    """The first is the visit start, at most MAX_OCCURRENCES within MAX_SPAN, none overlapping."""
    if not occurrences or occurrences[0].start != first_start:
        return [
            _invalid(
                path,
                f"{path}: the visit start is not a day of the recurrence; start the first visit on a day the rule "
                "gives (e.g. a Tuesday for BYDAY=TU).",
            )
        ]
    if len(occurrences) > MAX_OCCURRENCES:
        return [_invalid(path, f"{path} gives more than {MAX_OCCURRENCES} visits; end it sooner (COUNT or UNTIL).")]
    if occurrences[-1].start - occurrences[0].start > MAX_SPAN:
        return [_invalid(path, f"{path}: the last visit must start within {MAX_SPAN.days} days of the first.")]
    return [
        _invalid(path, f"{path}: visits would overlap; each visit must end before the next one starts.")
        for before, after in zip(occurrences, occurrences[1:], strict=False)
        if after.start < before.end
    ][:1]


def validate_recurrence(
    value, *, first_start: datetime | None, first_end: datetime | None, zone: ZoneInfo, path: str = "recurrence"
) -> tuple[list[rules.RuleError], CleanRecurrence | None]:
    """Every rule of a series' recurrence, given its first visit (None: only the rule's syntax is checked)."""
    errors, rule = normalize_rule(value, zone, path)
    if errors or first_start is None or first_end is None or first_end <= first_start:
        return errors, None
    until = dict(part.split("=", 1) for part in rule.split(";")).get("UNTIL")
    if until and datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) < first_start:
        return [
            _invalid(
                path,
                f"{path}: UNTIL is before the first visit's start, so the series would have no visits; give a "
                "later UNTIL (a date is the end of that day in the IBX) or COUNT.",
            )
        ], None
    try:
        occurrences = expand(rule, first_start=first_start, first_end=first_end, zone=zone)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:  # dateutil's, while expanding
        return [_invalid(path, f"{path} is not a valid RFC 5545 RRULE ({exc}); for example {EXAMPLE}.")], None
    errors = occurrences_errors(occurrences, first_start, path)
    if errors:
        return errors, None
    return [], CleanRecurrence(rule, occurrences)


def template_errors(body) -> list[rules.RuleError]:
    """What a single visit may carry and a series may not: attachments belong to one order each."""
    if not isinstance(body, dict):
        return []
    found = []
    if body.get("attachments"):
        found.append(
            _invalid(
                "attachments",
                "attachments: a series cannot carry attachments, each belongs to one order; "
                "attach files to an occurrence's order instead.",
            )
        )
    po = body.get("purchaseOrder")
    if isinstance(po, dict) and po.get("attachmentId"):
        found.append(
            _invalid(
                "purchaseOrder.attachmentId",
                "purchaseOrder.attachmentId: a series cannot carry a purchase "
                "order document, it belongs to one order; leave it out.",
            )
        )
    return found


# The wizard's "Repeat" choices, each an RRULE built from the first visit's local date.
REPEAT_CHOICES = [
    ("", "Does not repeat"),
    ("DAILY", "Every day"),
    ("WEEKLY", "Every week, on the same weekday"),
    ("MONTHLY_DATE", "Every month, on the same date"),
    ("MONTHLY_WEEKDAY", "Every month, on the same weekday (e.g. the first Tuesday)"),
]


def rule_for_repeat(kind: str, count: int, local_start: datetime) -> str:
    """The RRULE of a "Repeat" choice for `count` visits from the first visit's local date."""
    if kind == "DAILY":
        return f"FREQ=DAILY;COUNT={count}"
    if kind == "WEEKLY":
        return f"FREQ=WEEKLY;BYDAY={WEEKDAYS[local_start.weekday()]};COUNT={count}"
    if kind == "MONTHLY_DATE":
        return f"FREQ=MONTHLY;BYMONTHDAY={local_start.day};COUNT={count}"
    # The nth weekday of the month; the fifth is "the last" (not every month has five).
    nth = (local_start.day - 1) // 7 + 1
    return f"FREQ=MONTHLY;BYDAY={nth if nth < 5 else -1}{WEEKDAYS[local_start.weekday()]};COUNT={count}"
