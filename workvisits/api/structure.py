"""The structure of the request bodies, checked by DRF serializers declared once (they also give the OpenAPI
schema): JSON types, unknown properties, required properties, enumerations, formats, lengths and array sizes.

The work-visit rules (rules.py) then judge the content; both kinds of error come back together, keyed by
JSON path, in the order the body's parts are checked. Each message is written with PATH where the
property's JSON path goes (NUL, which no parsed body may hold, so a value cannot forge it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField, empty

from .. import rules

PATH = "\x00"
_LAST = 1 << 30  # a rule's error on an item or a list sorts after the structure errors inside it


def type_name(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _fail(code: str, message: str):
    return ValidationError([ErrorDetail(message, code=code)])


def _missing(how: str = "") -> ValidationError:
    return _fail(rules.MISSING, f"{PATH} is required{': ' + how if how else '.'}")


def _invalid(message: str) -> ValidationError:
    return _fail(rules.INVALID, message)


class Absent:
    """How a field treats a missing or null value: `required` (with a hint), or left alone (the default, and
    for properties whose absence a rule judges)."""

    def __init__(
        self,
        *args,
        how: str = "",
        null_invalid: bool = False,
        rule_required: bool = False,
        variant_required: bool = False,
        **kwargs,
    ):
        # variant_required: required by the kind of object it names (a registered user), so not in the schema.
        self.variant_required = variant_required
        # rule_required: documented as required, but a rule of rules.py says what is missing (the wizard's
        # steps get the same words).
        self.how, self.null_invalid, self.rule_required = how, null_invalid, rule_required
        super().__init__(*args, **kwargs)

    @property
    def must_have(self) -> bool:
        return (self.required or self.variant_required) and not self.rule_required

    def run_validation(self, data=empty):
        if data is empty or data is None:
            if data is None and self.null_invalid:
                raise self.invalid_error(data)
            if self.must_have:
                raise _missing(self.how)
            raise SkipField()
        return self.check(data)

    def invalid_error(self, data) -> ValidationError:
        return _invalid(f"{PATH} is not valid.")

    def check(self, data):
        raise NotImplementedError


def _text(data, *, field: Absent, lo: int, hi: int) -> str:
    if not isinstance(data, str):
        raise _invalid(f"{PATH} must be a string, not {type_name(data)}.")
    length = len(data.strip())
    if length == 0 and field.rule_required:
        return ""
    if length == 0 and field.required:
        raise _missing(field.how)
    if length < lo or len(data) > hi:
        raise _invalid(f"{PATH} must be {lo} to {hi} characters long; it has {len(data)}.")
    return data.strip()


class Text(Absent, serializers.CharField):
    """A string: `lo` to `hi` characters (blank counts as absent when the property is required)."""

    def __init__(self, *args, lo: int = 0, hi: int = 10_000, **kwargs):
        self.lo, self.hi = lo, hi
        super().__init__(*args, max_length=hi, **kwargs)

    def check(self, data):
        return _text(data, field=self, lo=self.lo, hi=self.hi)


class Choice(Absent, serializers.ChoiceField):
    """One of `choices`; `choice_text` says which (a blank optional one is as absent), or `rule` of rules.py
    says why not (its words the wizard's and the admin's too)."""

    def __init__(self, *args, choice_text: str, rule: Callable[[str], str | None] | None = None, **kwargs):
        self.choice_text, self.rule = choice_text, rule
        super().__init__(*args, **kwargs)

    def check(self, data):
        value = _text(data, field=self, lo=0, hi=10_000)
        problem = self.rule(value) if value and self.rule is not None else None
        if problem:
            raise _invalid(f"{PATH} {problem}")
        if value and value not in self.choices:
            raise _invalid(f"{PATH} must be {self.choice_text}.")
        return value


class Documented(Text):
    """A property only documented here: a rule of rules.py checks it whole (with its type), for every caller."""

    def run_validation(self, data=empty):
        raise SkipField()


class RuleText(Text):
    """A string judged as a whole by one of rules.py's text rules (the same the wizard uses)."""

    def __init__(self, *args, rule: Callable, **kwargs):
        self.rule = rule
        super().__init__(*args, **kwargs)

    def run_validation(self, data=empty):
        found, value = self.rule(None if data is empty else data, PATH)
        if found:
            raise ValidationError([ErrorDetail(error.message, code=error.code) for error in found])
        if value is None:
            raise SkipField()
        return value


class Flag(Absent, serializers.BooleanField):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, null_invalid=True, **kwargs)

    def invalid_error(self, data):
        return _invalid(f"{PATH} must be true or false.")

    def check(self, data):
        if not isinstance(data, bool):
            raise self.invalid_error(data)
        return data


class When(Absent, serializers.CharField):
    """An instant in ISO 8601 UTC (the upstream's 'T' quirk accepted)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("how", "give an ISO 8601 UTC time such as 2026-12-01T09:00:00Z.")
        super().__init__(*args, **kwargs)

    def check(self, data):
        parsed = rules.parse_datetime(data)
        if parsed is None:
            raise _invalid(f"{PATH} must be an ISO 8601 date and time in UTC, such as 2026-12-01T09:00:00Z.")
        return parsed


class Day(Absent, serializers.DateField):
    """A date written YYYY-MM-DD (null is absent; any other JSON type is refused)."""

    def check(self, data):
        if not isinstance(data, str):
            raise _invalid(f"{PATH} must be a date written as YYYY-MM-DD, not {type_name(data)}.")
        try:
            return date.fromisoformat(data)
        except ValueError:
            raise _invalid(f"{PATH} must be a date written as YYYY-MM-DD.") from None


# How a period's bound may be written (Order History's fromDate and toDate, the list's query parameters).
DAY_OR_TIME = "a date (YYYY-MM-DD) or an ISO 8601 UTC time before the year 9999"


class DayOrTime(Absent, serializers.CharField):
    """A bound of a period: a date (its start, or its end with `end_of_day`) or an ISO 8601 UTC time."""

    def __init__(self, *args, end_of_day: bool, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(*args, **kwargs)

    def check(self, data):
        if not isinstance(data, str):
            raise _invalid(f"{PATH} must be {DAY_OR_TIME}, not {type_name(data)}.")
        parsed = rules.parse_day_bound(data, end_of_day=self.end_of_day)
        if parsed is None:
            raise _invalid(f"{PATH} must be {DAY_OR_TIME}.")
        return parsed


class Whole(Absent, serializers.IntegerField):
    """A whole number from `lo` to `hi`, sent as a JSON number (a string, a fraction or a boolean is refused)."""

    def __init__(self, *args, lo: int, hi: int, **kwargs):
        self.lo, self.hi = lo, hi
        super().__init__(*args, min_value=lo, max_value=hi, **kwargs)

    def check(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise _invalid(f"{PATH} must be a whole number from {self.lo} to {self.hi}, not {type_name(data)}.")
        if not self.lo <= data <= self.hi:
            raise _invalid(f"{PATH} must be a whole number from {self.lo} to {self.hi}; it is {data}.")
        return data


class Code(Absent, serializers.CharField):
    """A purchase order's number or amount: a string, or a number (`numbers`), at most `hi` characters."""

    def __init__(self, *args, hi: int, numbers: tuple, kind_text: str, **kwargs):
        self.hi, self.numbers, self.kind_text = hi, numbers, kind_text
        super().__init__(*args, max_length=hi, **kwargs)

    def check(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, *self.numbers)):
            raise _invalid(f"{PATH} must be {self.kind_text}.")
        if len(str(data).strip()) > self.hi:
            raise _invalid(f"{PATH} must be at most {self.hi} characters long.")
        return str(data).strip()


class Ignored(Absent, serializers.CharField):
    """Accepted whatever it holds, and ignored."""

    def check(self, data):
        raise SkipField()


def _sized(data, *, required: bool, lo: int, hi: int | None, what: str) -> None:
    if not isinstance(data, list):
        raise _invalid(f"{PATH} must be an array, not {type_name(data)}.")
    if required and len(data) < max(lo, 1):
        raise _missing(f"give at least {max(lo, 1)} of the {what}.")
    if hi is not None and len(data) > hi:
        raise _invalid(f"{PATH} may hold at most {hi} {what}; it has {len(data)}. Remove some.")


def _items(data, validate) -> list:
    """Each item validated; the errors keyed by index."""
    values, problems = [], {}
    for index, item in enumerate(data):
        try:
            values.append(validate(item))
        except ValidationError as exc:
            problems[index] = exc.detail
    if problems:
        raise ValidationError(problems)
    return values


class Strings(Absent, serializers.ListField):
    """An array of non-empty strings (`item_text` says what each must be), each one of `allowed` if given."""

    def __init__(
        self,
        *args,
        hi: int | None,
        what: str,
        item_text: str,
        item_hi: int | None = None,
        allowed: list[str] | None = None,
        **kwargs,
    ):
        self.hi, self.what, self.item_text, self.item_hi = hi, what, item_text, item_hi
        self.allowed = frozenset(allowed or ())
        child = serializers.ChoiceField(choices=allowed) if allowed else serializers.CharField()
        super().__init__(*args, child=child, max_length=hi, **kwargs)

    def check(self, data):
        _sized(data, required=self.must_have, lo=0, hi=self.hi, what=self.what)
        return _items(data, self.check_item)

    def check_item(self, item):
        if not isinstance(item, str) or not item.strip() or (self.item_hi and len(item) > self.item_hi):
            raise _invalid(f"{PATH} must be {self.item_text}.")
        if self.allowed and item.strip() not in self.allowed:
            raise _invalid(f"{PATH} must be {self.item_text}.")
        return item.strip()


class Many(Absent, serializers.ListSerializer):
    """An array of objects, each checked by `child`."""

    def __init__(self, *args, what: str, hi: int | None = None, schema_hi: int | None = None, **kwargs):
        self.hi, self.what = hi, what
        if hi or schema_hi:
            kwargs["max_length"] = hi or schema_hi
        super().__init__(*args, **kwargs)

    def check(self, data):
        _sized(data, required=self.must_have, lo=0, hi=self.hi, what=self.what)
        return _items(data, self.child.to_internal_value)  # an item of null is not an object either


class Body(serializers.Serializer):
    """An object: every declared property checked, every other one refused.

    `variant(data)` names the properties one kind of object has (e.g. a registered visitor, or a person);
    `unknown_after` places the unknown-property errors among the fields' (by default before them).
    """

    unknown_after = 0

    def __init__(self, *args, how: str = "", **kwargs):
        self.how = how
        super().__init__(*args, **kwargs)

    def variant(self, data: Mapping) -> tuple[str, ...]:
        return tuple(self.fields)

    def run_validation(self, data=empty):
        if data is empty or data is None:
            if self.required:
                raise _missing(self.how)
            raise SkipField()
        return self.to_internal_value(data)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise _invalid(f"{PATH} must be an object, not {type_name(data)}.")
        allowed = self.variant(data)
        problems: dict = {}
        for key in data:
            if key not in allowed:
                problems[key] = [
                    ErrorDetail(
                        f"{PATH} is not a property of this request; remove it "
                        f"(allowed here: {', '.join(sorted(allowed))}).",
                        code=rules.INVALID,
                    )
                ]
        values = {}
        for name in allowed:
            field = self.fields[name]
            try:
                values[name] = field.run_validation(data[name] if name in data else empty)
            except ValidationError as exc:
                problems[name] = exc.detail
            except SkipField:
                pass
        if problems:
            raise ValidationError(problems)
        return values


# ---------------------------------------------------------------------------------------------
def check(serializer_class: type[Body], data) -> tuple[list[rules.RuleError], dict]:
    """The structure errors of a request body, keyed by JSON path ("$" for the body itself), in check order;
    or none and the checked values."""
    if not isinstance(data, dict):
        found = f"The request body must be a JSON object, not {type_name(data)}."
        return [rules.RuleError("$", rules.INVALID, found)], {}
    try:
        return [], checker(serializer_class).run_validation(data)
    except ValidationError as exc:
        detail = exc.detail
    return in_check_order(serializer_class, flatten(detail), []), {}


def flatten(detail, prefix: str = "") -> list[rules.RuleError]:
    """A serializer's errors as rule errors keyed by JSON path. Ours carry their code and PATH in their
    message; DRF's own say required or null (missing) or anything else (invalid)."""
    found: list[rules.RuleError] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path if key == "non_field_errors" else rules.json_path(path, key))
            return
        for item in node:
            if not isinstance(item, ErrorDetail):
                walk(item, path)
                continue
            where = path or "$"
            if item.code in rules.ERROR_MESSAGES:
                found.append(rules.RuleError(where, item.code, str(item).replace(PATH, where)))
            elif item.code in ("required", "null"):
                found.append(rules.RuleError(where, rules.MISSING, f"{where} is required."))
            else:
                found.append(rules.RuleError(where, rules.INVALID, f"{where}: {item}"))

    walk(detail, prefix)
    return found


def with_structure(serializer_class: type[Body], data, call: Callable):
    """`call(structure_errors)` (a service that also applies the rules); a RuleViolation it raises comes
    back with the structure's and the rules' errors together in check order."""
    structure, _ = check(serializer_class, data)
    try:
        return call(structure)
    except rules.RuleViolation as exc:
        ours = {id(e) for e in structure}
        domain = [e for e in exc.errors if id(e) not in ours]
        raise rules.RuleViolation(in_check_order(serializer_class, structure, domain)) from None


_CHECKERS: dict[type, Body] = {}


def checker(serializer_class: type[Body]) -> Body:
    """One instance of each body's serializer, built once: checking a body keeps no state on it."""
    if serializer_class not in _CHECKERS:
        _CHECKERS[serializer_class] = serializer_class()
    return _CHECKERS[serializer_class]


def _segments(path: str) -> list[str | int]:
    """A JSON path as written by rules.json_path, back into its keys and indexes."""
    out: list[str | int] = []
    for name, index, quoted in re.findall(r'(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]', path):
        if name:
            out.append(name)
        elif index:
            out.append(int(index))
        else:
            try:
                out.append(json.loads(quoted))
            except ValueError:
                out.append(quoted)
    return out


def _rank(serializer_class: type[Body], path: str, *, domain: bool) -> list[int]:
    """Where an error at `path` sorts: by the position of each key among its object's fields (unknown keys
    where `unknown_after` says) and by index; a rule's error after the structure errors of the item (or
    list) it judges."""
    node = checker(serializer_class)
    ranks: list[int] = []
    last_item = 0
    segments = _segments(path)
    for segment in segments:
        if isinstance(segment, int):
            ranks.append(segment)
            last_item = len(ranks)
            node = getattr(node, "child", None)
        elif isinstance(node, Body) and segment in node.fields:
            ranks.append(list(node.fields).index(segment) * 2 + 1)
            node = node.fields[segment]
        else:
            ranks.append(getattr(node, "unknown_after", 0) * 2)
            node = None
    if domain:
        in_place = bool(segments) and segments[-1] in _CHECKED_IN_PLACE
        return [*ranks[: len(ranks) if in_place else last_item or len(ranks)], _LAST]
    return [*ranks, 0]


# A rule's error under one of these paths is found once both properties are read.
_CHECKED_AFTER = {"details.visitStartDateTime": "details.visitEndDateTime"}
# Properties a rule judges where they stand among their object's (not once the object is read).
_CHECKED_IN_PLACE = {"timezone", "description", "customerReferenceId"}


def in_check_order(
    serializer_class: type[Body], structure: list[rules.RuleError], domain: list[rules.RuleError]
) -> list[rules.RuleError]:
    """Structure and rule errors together, in the order the body's parts are checked."""
    keyed = [(_rank(serializer_class, e.path, domain=False), e) for e in structure]
    keyed += [(_rank(serializer_class, _CHECKED_AFTER.get(e.path, e.path), domain=True), e) for e in domain]
    return [error for _, error in sorted(keyed, key=lambda pair: pair[0])]
