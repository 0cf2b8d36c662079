"""What the forms share: a wizard step's base, and mapping the rules' JSON paths onto fields."""

from __future__ import annotations

import re

from django import forms

from ... import rules
from ...choices import DetailType
from ..messages import Names, humanize

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


def person_details(email: str, phone: str, *, phone_type: str = DetailType.PHONE) -> list[dict]:
    """The details of a person typed in; a visitor's phone is written as MOBILE (rules.VISITOR_DETAIL_TYPES)."""
    details = []
    if email:
        details.append({"type": DetailType.EMAIL, "value": email})
    if phone:
        details.append({"type": phone_type, "value": phone})
    return details


def detail_field(sub: str, email: str, email_field: str, phone_field: str) -> str:
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
