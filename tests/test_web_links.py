"""The customer pages' links ({% link %}, reversed once per process) are the URLs Django's {% url %} gives, under
whatever script prefix and URLconf the request is served with."""

import uuid

import pytest
from django.http import HttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import path, set_script_prefix

from workvisits.templatetags.portal import link

urlpatterns = [path("elsewhere/<str:order_id>/", lambda request, order_id: HttpResponse(), name="order_detail")]

BOTH = (
    "{% load portal %}{% link 'order_detail' order_id=order_id %}|{% url 'order_detail' order_id=order_id %}|"
    "{% link 'webhook_detail' endpoint_id %}|{% url 'webhook_detail' endpoint_id %}|"
    "{% link 'dashboard' as home %}{{ home }}|{% url 'dashboard' %}"
)


def _render(**context) -> list[str]:
    return engines["django"].from_string(BOTH).render(context).split("|")


@pytest.fixture(autouse=True)
def _root_prefix():
    yield
    set_script_prefix("/")


def test_a_link_is_the_url_djangos_tag_gives():
    for order_id in ("1-ABC", "1-ÄÖ Ü&x", "1-ABC"):
        ours, djangos, hook, hook_django, home, home_django = _render(order_id=order_id, endpoint_id=uuid.uuid4())
        assert ours == djangos and hook == hook_django and home == home_django == "/"
    assert link("order_detail", order_id="1-ABC") == "/orders/1-ABC/"


def test_a_link_follows_the_script_prefix_of_each_request():
    assert link("dashboard") == "/"
    set_script_prefix("/portal/")
    assert link("dashboard") == "/portal/"
    assert link("order_detail", order_id="1-ABC") == "/portal/orders/1-ABC/"
    set_script_prefix("/")
    assert link("order_detail", order_id="1-ABC") == "/orders/1-ABC/"


def test_a_link_follows_the_urlconf():
    assert link("order_detail", order_id="1-ABC") == "/orders/1-ABC/"
    with override_settings(ROOT_URLCONF=__name__):
        assert link("order_detail", order_id="1-ABC") == "/elsewhere/1-ABC/"
    assert link("order_detail", order_id="1-ABC") == "/orders/1-ABC/"
