"""The work-visit wizard: six steps that build the Work Visits v2 create body, then one service call."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, time, timedelta

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.shortcuts import redirect
from django.utils.functional import cached_property
from formtools.wizard.views import NamedUrlSessionWizardView

from .. import rules, selectors, services
from ..choices import Availability, ContactType
from ..models import Attachment, Visitor
from . import forms

STEPS = [
    ("location", forms.LocationForm),
    ("schedule", forms.ScheduleForm),
    ("visitors", forms.VisitorFormSet),
    ("contacts", forms.ContactsForm),
    ("details", forms.DetailsForm),
    ("review", forms.ReviewForm),
]
STEP_TITLES = {
    "location": "Location",
    "schedule": "Schedule",
    "visitors": "Visitors",
    "contacts": "Contacts",
    "details": "Details",
    "review": "Review",
}
# Which step holds the property a JSON path names.
PATH_STEPS = [
    ("details.cages", "location"),
    ("details.visitStartDateTime", "schedule"),
    ("details.visitEndDateTime", "schedule"),
    ("details.openCabinet", "schedule"),
    ("details.visitors", "visitors"),
    ("contacts", "contacts"),
    ("description", "details"),
    ("customerReferenceId", "details"),
    ("purchaseOrder", "details"),
    ("attachments", "details"),
]
NO_ORDERING_PERMISSION = (
    "You may look at your organization's work visits, but you do not hold the work-visit ordering "
    "permission on any cage, so you cannot schedule a visit."
)


def step_for_path(path: str) -> str:
    return next((step for prefix, step in PATH_STEPS if path.startswith(prefix)), "review")


def recent_visitors(user, limit: int = 8) -> list[Visitor]:
    """People typed in as visitors on the organization's latest orders, each person once."""
    latest = (
        Visitor.objects.filter(order__organization_id=user.organization_id, user__isnull=True)
        .values("first_name", "last_name", "company_name")
        .annotate(last_id=Max("id"))
        .order_by("-last_id")[:limit]
    )
    return list(Visitor.objects.filter(pk__in=[row["last_id"] for row in latest]).order_by("-id"))


def require_ordering_permission(user) -> None:
    if not selectors.user_may_order(user):
        raise PermissionDenied(NO_ORDERING_PERMISSION)


class WorkVisitWizard(LoginRequiredMixin, NamedUrlSessionWizardView):
    form_list = STEPS
    template_name = "workvisits/wizard.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            require_ordering_permission(request.user)
        return super().dispatch(request, *args, **kwargs)

    # -- what the steps need, computed once per request ------------------------------------------
    @cached_property
    def ctx(self) -> rules.OrderingContext:
        return selectors.ordering_context(self.request.user)

    @cached_property
    def locations(self):
        return selectors.locations_for_user(self.request.user)

    @cached_property
    def users(self):
        return list(selectors.organization_users(self.request.user))

    @cached_property
    def location_form(self):
        form = self.get_form("location", data=self.storage.get_step_data("location"))
        return form if form.is_valid() else None

    def ibx(self):
        return self.location_form.ibx_object() if self.location_form else None

    def get_form_kwargs(self, step=None):
        kwargs = {"user": self.request.user, "ctx": self.ctx}
        if step == "location":
            kwargs["locations"] = self.locations
        elif step == "schedule":
            ibx = self.ibx()
            kwargs["zone_name"] = ibx.timezone if ibx else "UTC"
        elif step == "visitors":
            kwargs["users"] = self.users
            kwargs["recent"] = recent_visitors(self.request.user)
        elif step == "contacts":
            kwargs["users"] = self.users
        elif step == "details":
            kwargs["po_bearing"] = self.location_form.po_bearing_accounts() if self.location_form else []
        return kwargs

    def get_form_initial(self, step):
        initial = super().get_form_initial(step)
        if step == "schedule" and self.ibx():
            # Tomorrow's working day in the IBX, as a starting point to adjust.
            tomorrow = datetime.now(self.ibx().zone).date() + timedelta(days=1)
            initial = {
                **initial,
                "start": datetime.combine(tomorrow, time(9, 0)),
                "end": datetime.combine(tomorrow, time(17, 0)),
            }
        if step == "contacts" and self.ibx():
            initial = {**initial, "timezone": self.request.user.timezone or self.ibx().timezone}
        return initial

    def post(self, *args, **kwargs):
        # Back keeps what was typed on this step (formtools would drop it); it is validated on the way forward.
        goto = self.request.POST.get("wizard_goto_step")
        if goto and goto in self.get_form_list():
            form = self.get_form(data=self.request.POST, files=self.request.FILES)
            self.storage.set_step_data(self.steps.current, self.process_step(form))
        return super().post(*args, **kwargs)

    def render_next_step(self, form, **kwargs):
        # "Save and back to review" after a change made from the review page.
        if self.request.POST.get("to_review") and self.reached_review():
            self.storage.current_step = "review"
            return redirect(self.get_step_url("review"))
        return super().render_next_step(form, **kwargs)

    def reached_review(self) -> bool:
        stored = self.storage.data.get("step_data", {})
        return all(step in stored for step in self.get_form_list() if step != "review")

    # -- rendering --------------------------------------------------------------------------------
    def validated_forms(self) -> dict | None:
        forms_by_step = {}
        for step in self.get_form_list():
            if step == "review":
                continue
            form = self.get_form(step, data=self.storage.get_step_data(step))
            if not form.is_valid():
                return None
            forms_by_step[step] = form
        return forms_by_step

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        steps = list(self.get_form_list())
        done = set(self.storage.data.get("step_data", {}).keys())
        context.update(
            step_title=STEP_TITLES[current],
            step_items=[
                {
                    "name": s,
                    "title": STEP_TITLES[s],
                    "number": i + 1,
                    "current": s == current,
                    "done": s in done and s != current,
                    "url": self.get_step_url(s),
                }
                for i, s in enumerate(steps)
            ],
            ibx=self.ibx(),
            rules=rules,
            offer_review=current != "review" and self.reached_review(),
        )
        pending = self.storage.extra_data.get("errors")
        if pending:
            for field, message in pending.get(current, []):
                target = form.picker if hasattr(form, "picker") and field in ("registered", "recent") else form
                if field in getattr(target, "fields", {}):
                    target.add_error(field, message)
                else:
                    context.setdefault("service_errors", []).append(message)
            self.storage.extra_data = {}
        if current == "details":
            ids = form["attachments"].value() or []
            context["attachment_rows"] = list(
                Attachment.objects.filter(
                    organization_id=self.request.user.organization_id, id__in=[i for i in ids if _is_uuid(i)]
                )
            )
        if current == "location":
            context["cage_rows"] = form.rows_for(form.selected_ibx())
        if current == "contacts":
            context["timezones"] = sorted(zoneinfo.available_timezones())
        if current == "review":
            context["summary"] = self.summary()
        return context

    def summary(self) -> dict | None:
        forms_by_step = self.validated_forms()
        if forms_by_step is None:
            return None
        location = forms_by_step["location"]
        visitors = forms_by_step["visitors"]
        contacts = forms_by_step["contacts"]
        details = forms_by_step["details"]
        names = {u.username: u.display_name() for u in self.users}
        ids = [a["id"] for a in details.raw_attachments]
        return {
            "ibx": location.ibx_object(),
            "cages": location.raw_cages,
            "schedule": forms_by_step["schedule"],
            "visitors": [_describe_person(v, names) for v in visitors.raw_visitors],
            "contacts": [
                (
                    ContactType(c["type"]).label,
                    _describe_person(c, names),
                    Availability(c["availability"]).label if c.get("availability") else "",
                    c.get("timezone", ""),
                )
                for c in contacts.raw_contacts
            ],
            "details": details,
            "attachments": list(Attachment.objects.filter(id__in=ids)),
        }

    def get_template_names(self):
        return [f"workvisits/wizard_{self.steps.current}.html"]

    # -- the end ----------------------------------------------------------------------------------
    def build_body(self, forms_by_step) -> dict:
        body: dict = {"details": {}}
        for step in self.get_form_list():
            part = forms_by_step[step].body()
            body["details"].update(part.pop("details", {}))
            body.update(part)
        return body

    def render_done(self, form, **kwargs):
        """Re-validate every stored step, then create the order through the same service as the API."""
        if kwargs.get("step") != self.done_step_name:
            return redirect(self.get_step_url(self.done_step_name))
        forms_by_step = {}
        for step in self.get_form_list():
            step_form = self.get_form(step, data=self.storage.get_step_data(step))
            if not step_form.is_valid():
                return self.render_revalidation_failure(step, step_form, **kwargs)
            forms_by_step[step] = step_form
        try:
            order = services.order_create(user=self.request.user, data=self.build_body(forms_by_step))
        except rules.RuleViolation as exc:
            return self.show_violation(exc, forms_by_step)
        self.storage.reset()
        return redirect("order_confirmation", order_id=order.order_id)

    def show_violation(self, exc: rules.RuleViolation, forms_by_step):
        """Send the user back to the first step a rule names, with each message at its field."""
        errors: dict[str, list] = {}
        for error in exc.errors:
            step = step_for_path(error.path)
            form = forms_by_step.get(step)
            field = form.field_for(error.path) if form is not None else None
            if step == "visitors":
                field = "registered"
            errors.setdefault(step, []).append((field, error.message))
        first = next(s for s in self.get_form_list() if s in errors)
        self.storage.extra_data = {"errors": errors}
        self.storage.current_step = first
        return redirect(self.get_step_url(first))


def _describe_person(person: dict, names: dict) -> str:
    if "registeredUsers" in person:
        return ", ".join(f"{names.get(u, u)} ({u})" for u in person["registeredUsers"])
    details = ", ".join(d["value"] for d in person.get("details", []))
    return f"{person['firstName']} {person['lastName']} · {person['companyName']} · {details}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
