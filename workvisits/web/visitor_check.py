"""The wizard's visitors step checks pasted or imported rows at once (htmx), before Next: each row with
its own errors in words, and a sentence saying which rows need a correction."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_POST

from .. import selectors
from . import forms
from .wizard import require_ordering_permission

PREFIX = "visitors"  # the wizard's step name, the prefix of its fields


def summary(formset) -> str:
    """``All 5 people are fine.`` or ``1 of 5 people needs a correction: Person 2 (Ben Beta).``"""
    typed = []
    for number, row in enumerate(formset.forms, start=1):
        if row.has_changed() or row.errors:
            first, last = (row.data.get(row.add_prefix(f), "").strip() for f in ("first_name", "last_name"))
            name = f"{first} {last}".strip()
            typed.append((f"Person {number}" + (f" ({name})" if name else ""), bool(row.errors)))
    wrong = [label for label, bad in typed if bad]
    problems = [str(e) for e in formset.non_form_errors()]
    if not wrong and not problems:
        count = len(typed)
        return ("The person added is fine." if count == 1 else f"All {count} people are fine.") if count else ""
    said = []
    if wrong:
        verb = "needs" if len(wrong) == 1 else "need"
        said.append(f"{len(wrong)} of {len(typed)} {'person' if len(typed) == 1 else 'people'} {verb} a correction: ")
        said.append(", ".join(wrong) + ".")
    return " ".join(["".join(said), *problems]).strip()


@login_required
@require_POST
def wizard_visitors_check(request):
    """The visitor rows as typed, checked by the same formset (and rules) as the step's Next."""
    user = request.user
    require_ordering_permission(user)
    formset = forms.VisitorFormSet(
        request.POST,
        prefix=PREFIX,
        user=user,
        ctx=selectors.ordering_context(user),
        users=selectors.organization_users(user),
        recent=selectors.recent_visitors(user=user),
    )
    formset.is_valid()
    return render(request, "workvisits/_visitor_check.html", {"form": formset, "summary": summary(formset)})
