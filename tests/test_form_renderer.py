"""The portal's form renderer writes the same HTML as Django's template renderer for every widget and value.

The pages' inputs and selects are written in Python (workvisits/web/forms/renderer.py); a visitor's browser
must get exactly what Django's own templates would have given, escaping and all."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from workvisits.web.forms import OrderFilterForm, RescheduleForm
from workvisits.web.forms.renderer import WRITERS, FormRenderer

TRICKY = "a <b> & \"c\" 'd'"
CHOICES = [
    ("", "Any"),
    ("x", TRICKY),
    ("Group <1>", [("g1", "one"), ("g2", gettext_lazy("two"))]),
    (3, "three"),
    ("safe", mark_safe("<em>marked</em>")),
]
ATTRS = {"class": "form-control x", "required": True, "disabled": False, "data-n": 5, "placeholder": TRICKY}

WIDGETS = [
    (forms.TextInput(), "hello"),
    (forms.TextInput(attrs=ATTRS), TRICKY),
    (forms.TextInput(), None),
    (forms.TextInput(), ""),
    (forms.TextInput(), mark_safe("<b>safe</b>")),
    (forms.SearchInput(attrs={"placeholder": "Order id"}), "1-23"),
    (forms.EmailInput(), "a@b.example"),
    (forms.TelInput(), "+44 20 7946 0000"),
    (forms.ColorInput(), "#ff0000"),
    (forms.URLInput(), "https://x.example/?a=1&b=2"),
    (forms.NumberInput(attrs={"min": 0, "step": Decimal("0.01")}), 12),
    (forms.NumberInput(), Decimal("1234.50")),
    (forms.PasswordInput(render_value=True), "secret"),
    (forms.PasswordInput(), "secret"),
    (forms.HiddenInput(), 42),
    (forms.DateInput(attrs={"type": "date"}), datetime.date(2026, 12, 7)),
    (forms.DateTimeInput(), datetime.datetime(2026, 12, 7, 8, 30)),
    (forms.TimeInput(), datetime.time(8, 30)),
    (forms.CheckboxInput(), True),
    (forms.CheckboxInput(), False),
    (forms.FileInput(), None),
    (forms.Textarea(), "line one\n<line two>"),
    (forms.Textarea(attrs={"rows": 3}), ""),
    (forms.Textarea(), None),
    (forms.Select(choices=CHOICES), "x"),
    (forms.Select(choices=CHOICES, attrs=ATTRS), "g2"),
    (forms.Select(choices=CHOICES), None),
    (forms.Select(choices=CHOICES), 3),
    (forms.Select(choices=[]), ""),
    (forms.SelectMultiple(choices=CHOICES), ["x", "g1"]),
    (forms.NullBooleanSelect(), None),
    (forms.NullBooleanSelect(), True),
    # Django's own templates for these (the renderer hands them on): the same either way.
    (forms.Select(choices=[(1, 1), (2, 2.5)]), 1),
    (forms.RadioSelect(choices=CHOICES), "x"),
    (forms.CheckboxSelectMultiple(choices=CHOICES), ["x"]),
    (forms.ClearableFileInput(), None),
    (forms.SplitDateTimeWidget(), datetime.datetime(2026, 12, 7, 8, 30)),
    (forms.SelectDateWidget(years=[2026]), datetime.date(2026, 12, 7)),
]


def test_the_portal_uses_it():
    assert isinstance(get_default_renderer(), FormRenderer)
    assert settings.FORM_RENDERER == "workvisits.web.forms.renderer.FormRenderer"


@pytest.mark.parametrize(
    ("widget", "value"), WIDGETS, ids=lambda w: type(w).__name__ if isinstance(w, forms.Widget) else ""
)
def test_each_widget_is_written_as_django_writes_it(widget, value):
    django_html = widget.render("field", value, attrs={"id": "id_field"}, renderer=DjangoTemplates())
    portal_html = widget.render("field", value, attrs={"id": "id_field"}, renderer=FormRenderer())
    assert portal_html == django_html
    assert "<" in portal_html


def test_the_written_widgets_are_the_ones_tested():
    tested = {widget.template_name for widget, _value in WIDGETS}
    assert set(WRITERS) - {"django/forms/widgets/input.html"} <= tested


def _pages_forms():
    filters = OrderFilterForm({"q": TRICKY, "status": "QUEUED", "ibx": "SV1"}, ibxs=["DC11", "SV1"])
    filters.is_valid()
    yield filters
    yield OrderFilterForm(ibxs=[])
    reschedule = RescheduleForm({"start": "not a date", "end": ""})
    reschedule.is_valid()
    yield reschedule


@pytest.mark.parametrize("form", list(_pages_forms()))
def test_whole_forms_with_errors_render_the_same(form):
    as_django = form.render(renderer=DjangoTemplates())
    form.renderer = FormRenderer()
    assert form.render() == as_django
