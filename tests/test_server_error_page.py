"""A server error answers the portal's own 500 page with the correlation id a person can quote to support,
and that page never fails in turn."""

import pytest
from django.test import Client, RequestFactory
from django.urls import get_resolver, path, reverse
from django.views import defaults

from portal import urls as portal_urls


def boom(request):
    raise RuntimeError("a bug")


# This module is also a URLconf (pytest.mark.urls): the portal's own, with a page that fails and its handler.
urlpatterns = [path("boom/", boom), *portal_urls.urlpatterns]
handler500 = portal_urls.handler500


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False


@pytest.fixture
def client():
    return Client(raise_request_exception=False)  # a 500 is an answer to assert on, not an exception


def test_the_portal_handles_its_500s_with_its_own_view():
    assert get_resolver("portal.urls").resolve_error_handler(500) is portal_urls.server_error


def test_a_customer_page_that_fails_shows_the_portal_page_with_the_correlation_id(client, orderer, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the calendar's query failed")

    monkeypatch.setattr("workvisits.web.visits_calendar.selectors.calendar_orders", fail)
    client.force_login(orderer)
    response = client.get(reverse("visits_calendar"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    reference = response["X-Correlation-ID"]
    assert reference and f'<code id="correlation-id">{reference}</code>' in html
    assert "Something went wrong on our side" in html and "Server Error (500)" not in html
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html  # the site's look
    assert "the calendar's query failed" not in html and "Traceback" not in html


@pytest.mark.urls(__name__)
def test_the_callers_correlation_id_is_the_one_shown(client):
    response = client.get("/boom/", headers={"X-Correlation-ID": "ticket-4711"})
    assert response.status_code == 500
    assert response["X-Correlation-ID"] == "ticket-4711"
    assert '<code id="correlation-id">ticket-4711</code>' in response.content.decode()


@pytest.mark.urls(__name__)
def test_the_page_is_shown_even_when_it_cannot_be_rendered(client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("a broken template")

    monkeypatch.setattr("portal.urls.loader.render_to_string", broken)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert f"Quote this reference to support: {response['X-Correlation-ID']}" in response.content.decode()
    assert "the server error page could not be rendered" in caplog.text


def test_the_page_needs_no_request_context():
    """Django's own handler renders 500.html with an empty context: it still renders, without a reference."""
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and 'id="correlation-id"' not in html
    assert "what you were doing and when" in html


def test_outside_a_request_the_handler_answers_without_a_reference():
    response = portal_urls.server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and 'id="correlation-id"' not in response.content.decode()
