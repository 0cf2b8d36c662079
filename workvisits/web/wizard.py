"""The work-visit wizard: six steps that build the Work Visits v2 create body, then one service call."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.datastructures import MultiValueDict
from django.utils.functional import cached_property
from formtools.wizard.views import NamedUrlSessionWizardView

from .. import rules, selectors, series, services
from ..choices import Availability, ContactType
from ..models import Order
from . import forms, prefill
from .messages import Names, humanize, purchase_order_words

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
    ("recurrence", "schedule"),
    ("details.visitors", "visitors"),
    ("contacts", "contacts"),
    ("description", "details"),
    ("customerReferenceId", "details"),
    ("purchaseOrder", "details"),
    ("attachments", "details"),
]
PLACED_KEY = "workvisits:placed"  # session: the order the wizard placed last, for Back after placing
NO_ORDERING_PERMISSION = (
    "You may look at your organization's work visits, but you do not hold the work-visit ordering "
    "permission on any cage, so you cannot schedule a visit."
)


def step_for_path(path: str) -> str:
    return next((step for prefix, step in PATH_STEPS if path.startswith(prefix)), "review")


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
        # Only the attachments this order names are looked up, never all of the organization's uploads.
        return selectors.ordering_context(self.request.user, attachment_ids=self.attachment_ids())

    def attachment_ids(self) -> list[str]:
        """The attachments the order names: on the details step as posted, as stored, or as drafted."""
        key = "details-attachments"
        ids = list(self.request.POST.getlist(key))
        stored = self.storage.get_step_data("details")
        if stored is not None:
            ids += stored.getlist(key)
        ids += (self.drafts().get("details") or {}).get(key, [])
        return [i for i in ids if isinstance(i, str)]

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
            kwargs["recent"] = selectors.recent_visitors(user=self.request.user)
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
            initial = {**initial, "timezone": self.ibx().timezone}
        return initial

    def get(self, request, *args, **kwargs):
        if "again" in request.GET:
            return self.schedule_again(request.GET["again"])
        if "reset" in request.GET:
            request.session.pop(PLACED_KEY, None)
        step = kwargs.get("step")
        placed = request.session.get(PLACED_KEY)
        if placed and step and step != self.steps.first and not self.storage.data.get("step_data"):
            # Back after placing an order: the wizard is empty now, so show what was placed.
            return redirect("order_confirmation", order_id=placed)
        draft = self.drafts().get(step)
        if draft is not None and step == self.steps.current:
            # A reload after an error shows what was typed, with its errors, not the last valid data.
            return self.render(self.get_form(data=MultiValueDict(draft)), **kwargs)
        return super().get(request, *args, **kwargs)

    def post(self, *args, **kwargs):
        # Back keeps what was typed on this step (formtools would drop it); it is validated on the way forward.
        self.request.session.pop(PLACED_KEY, None)
        goto = self.request.POST.get("wizard_goto_step")
        if goto and goto in self.get_form_list():
            form = self.get_form(data=self.request.POST, files=self.request.FILES)
            self.storage.set_step_data(self.steps.current, self.process_step(form))
            self.set_draft(self.steps.current, None)
        step = self.steps.current
        response = super().post(*args, **kwargs)
        if response.status_code == 200 and not goto and self.steps.current == step:
            self.set_draft(step, dict(self.request.POST.lists()))  # refused: kept for a reload
        return response

    def process_step(self, form):
        self.set_draft(self.steps.current, None)
        return super().process_step(form)

    def drafts(self) -> dict:
        return self.storage.extra_data.get("drafts", {})

    def set_draft(self, step: str, data: dict | None) -> None:
        drafts = dict(self.drafts())
        if data is None:
            drafts.pop(step, None)
        else:
            drafts[step] = {k: v for k, v in data.items() if k != "csrfmiddlewaretoken"}
        self.storage.extra_data = {**self.storage.extra_data, "drafts": drafts}

    def render(self, form=None, **kwargs):
        response = super().render(form, **kwargs)
        response["Cache-Control"] = "no-store"  # Back and Forward ask the server, which knows what was placed
        return response

    def render_next_step(self, form, **kwargs):
        # "Save and back to review" after a change made from the review page.
        if self.request.POST.get("to_review") and self.reached_review():
            self.storage.current_step = "review"
            return redirect(self.get_step_url("review"))
        return super().render_next_step(form, **kwargs)

    def schedule_again(self, order_id: str):
        """Start a new order from an earlier one: same cages, people, contacts and details; new dates."""
        try:
            order = selectors.order_for_user(self.request.user, order_id)
        except Order.DoesNotExist:
            raise Http404("No such work visit.") from None
        self.storage.reset()
        self.request.session.pop(PLACED_KEY, None)
        for step, data in prefill.steps_from_order(order, self.request.user).items():
            self.storage.set_step_data(step, data)
        self.storage.current_step = "schedule"
        messages.info(
            self.request,
            f"A new work visit like {order.order_id}: choose the new dates, then check the other steps.",
        )
        return redirect(self.get_step_url("schedule"))

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
            returning=current != "review"
            and self.reached_review()
            and (self.request.GET.get("from") == "review" or bool(self.request.POST.get("to_review"))),
        )
        pending = self.storage.extra_data.get("errors")
        if pending:
            for field, message in pending.get(current, []):
                target = form.picker if hasattr(form, "picker") and field in ("registered", "recent") else form
                row, _, row_field = (field or "").partition("-")
                if hasattr(form, "forms") and row.isdigit() and int(row) < len(form.forms):
                    form.forms[int(row)].add_error(row_field, message)
                elif field in getattr(target, "fields", {}):
                    target.add_error(field, message)
                else:
                    context.setdefault("service_errors", []).append(message)
            self.storage.extra_data = {k: v for k, v in self.storage.extra_data.items() if k != "errors"}
        if current == "details":
            ids = form["attachments"].value() or []
            context["attachment_rows"] = selectors.organization_attachments(self.request.user, ids)
        if current == "location":
            context["cage_rows"] = form.rows_for(form.selected_ibx())
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
            "purchase_order": _po_words(details.raw_po),
            "left_out": [
                f"{visitors.raw_visitors[i]['firstName']} {visitors.raw_visitors[i]['lastName']}"
                for i in visitors.left_out_indexes()
            ],
            "attachments": selectors.organization_attachments(self.request.user, ids),
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
        body = self.build_body(forms_by_step)
        if "recurrence" in body:
            return self.done_series(body, forms_by_step)
        left_out = forms_by_step["visitors"].left_out_indexes()
        try:
            with transaction.atomic():  # the emails (sent on commit) already know who is left out
                order = services.order_create(user=self.request.user, data=body)
                if left_out:
                    services.order_visitors_leave_out(order=order, indexes=left_out)
        except rules.RuleViolation as exc:
            return self.show_violation(exc, forms_by_step, body)
        self.storage.reset()
        self.request.session[PLACED_KEY] = order.order_id
        return redirect("order_confirmation", order_id=order.order_id)

    def done_series(self, body: dict, forms_by_step):
        """A repeated visit: a series through the same service as the API, its occurrences ordinary orders."""
        try:
            created = series.series_create(
                user=self.request.user, data=body, left_out_visitors=forms_by_step["visitors"].left_out_indexes()
            )
        except rules.RuleViolation as exc:
            return self.show_violation(exc, forms_by_step, body)
        self.storage.reset()
        messages.success(self.request, f"Visit series {created.series_id} is scheduled.")
        return redirect("series_detail", series_id=created.series_id)

    def show_violation(self, exc: rules.RuleViolation, forms_by_step, body: dict):
        """Send the user back to the first step a rule names, with each message at its field, in words."""
        visitors = forms_by_step["visitors"]
        names = Names.from_body(body, attachments=forms_by_step["details"].attachment_names())
        names.visitors = visitors.names().visitors
        errors: dict[str, list] = {}
        for error in exc.errors:
            step = step_for_path(error.path)
            form = forms_by_step.get(step)
            if step == "visitors":
                field = visitors.target_field(error.path)
            else:
                field = form.field_for(error.path) if form is not None else None
            errors.setdefault(step, []).append((field, humanize(error.path, error.message, names)))
        first = next(s for s in self.get_form_list() if s in errors)
        self.storage.extra_data = {**self.storage.extra_data, "errors": errors}
        self.storage.current_step = first
        return redirect(self.get_step_url(first))


def _describe_person(person: dict, names: dict) -> str:
    if "registeredUsers" in person:
        return ", ".join(f"{names.get(u, u)} ({u})" for u in person["registeredUsers"])
    details = ", ".join(d["value"] for d in person.get("details", []))
    return f"{person['firstName']} {person['lastName']} · {person['companyName']} · {details}"


def _po_words(po: dict | None) -> str:
    if not po:
        return "—"
    start, end = (_date_or_none(po.get(k)) for k in ("startDate", "endDate"))
    return purchase_order_words(po["type"], po.get("number", ""), po.get("amount", ""), start, end)


def _date_or_none(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
