"""Step 3: the visitors, registered users or typed in."""

from __future__ import annotations

from django import forms

from ... import rules
from ...choices import DetailType
from ..messages import Names, humanize
from .common import detail_field, person_details, split_path, user_choices


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
            "details": person_details(self.value("email"), self.value("phone"), phone_type=DetailType.MOBILE),
        }

    def field_for_sub(self, sub: str) -> str:
        key = sub.split(".")[0].split("[")[0]
        if key == "details":
            return detail_field(sub, self.value("email"), "email", "phone")
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
