"""The form renderer (settings.FORM_RENDERER): Django's own, with its commonest widget templates written in Python.

A form field's input, select or textarea is Django's template `django/forms/widgets/<type>.html`, which
includes `attrs.html` (and `select_option.html` once per option): a dozen template renders per select,
about a sixth of the dashboard's and the order page's time (docs/performance.md, "Scale"). This renderer
writes the same HTML, byte for byte, from the same context (`Widget.get_context()`), and hands every other
template (forms, fields, formsets, radio and checkbox lists, a widget with a template of its own) to Django's
renderer. tests/test_form_renderer.py renders each widget both ways and compares the strings, so a Django
release that changes a widget template fails there."""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.html import conditional_escape

WIDGETS = "django/forms/widgets/"
OPTION_TEMPLATE = WIDGETS + "select_option.html"
# Django's templates that only include input.html.
INPUT_TEMPLATES = frozenset(
    WIDGETS + f"{name}.html"
    for name in (
        "input",
        "text",
        "search",
        "email",
        "url",
        "number",
        "password",
        "hidden",
        "tel",
        "color",
        "date",
        "datetime",
        "time",
        "checkbox",
        "file",
    )
)


class Unwritten(Exception):
    """The context holds a value the template would format in its own way (a number, a date): let it."""


def _text(value) -> str:
    # `{{ value|stringformat:'s' }}`: str() of the value, escaped unless already marked safe.
    if isinstance(value, tuple):
        value = str(value)
    return conditional_escape(value if isinstance(value, str) else str(value))


def _label(value) -> str:
    # `{{ value }}` localizes numbers and dates first; text only here.
    if isinstance(value, Promise):
        value = str(value)
    if not isinstance(value, str):
        raise Unwritten
    return conditional_escape(value)


def _attrs(attrs: dict) -> str:
    # attrs.html: ` name` for True, nothing for False, ` name="value"` otherwise.
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {_label(name)}" if value is True else f' {_label(name)}="{_text(value)}"')
    return "".join(parts)


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{_text(widget["value"])}"'
    return f'<input type="{_label(widget["type"])}" name="{_label(widget["name"])}"{value}{_attrs(widget["attrs"])}>'


def _option(option: dict) -> str:
    if option["template_name"] != OPTION_TEMPLATE:
        raise Unwritten
    return f'<option value="{_text(option["value"])}"{_attrs(option["attrs"])}>{_label(option["label"])}</option>\n'


def _select(widget: dict) -> str:
    # The whitespace of select.html: each option on a line of its own after two spaces.
    parts = [f'<select name="{_label(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_label(group_name)}">')
        parts.extend(f"\n  {_option(option)}" for option in group_choices)
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _textarea(widget: dict) -> str:
    value = _label(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_label(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


WRITERS = {WIDGETS + "select.html": _select, WIDGETS + "textarea.html": _textarea} | dict.fromkeys(
    INPUT_TEMPLATES, _input
)


class FormRenderer(DjangoTemplates):
    """Django's DjangoTemplates renderer; the widgets in WRITERS are written here, the same HTML."""

    def render(self, template_name, context, request=None):
        write = WRITERS.get(template_name)
        if write is not None and "widget" in context:
            try:
                # Plain text, as Django's renderer returns it: the widget marks it safe (every value is escaped).
                return write(context["widget"]).strip()
            except Unwritten:
                pass
        return super().render(template_name, context, request)
