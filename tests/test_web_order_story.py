"""The order page tells the order's story: grouped emails newest first, live while moving, Add to
calendar, Schedule again, purchase orders in words; the private calendar feed."""

from datetime import date

import pytest
from django.core import mail
from django.urls import reverse
from icalendar import Calendar

from tests.orders_support import order_with_a_typed_visitor
from tests.test_web_messages import visible_text
from workvisits import notifications, services
from workvisits.choices import EventKind
from workvisits.models import Order


@pytest.fixture
def order(orderer, make_body):
    return order_with_a_typed_visitor(
        orderer, make_body, contacts=[{"type": "NOTIFICATION", "registeredUsers": ["technician", "orderer"]}]
    )


@pytest.fixture
def signed_in(client, orderer):
    client.force_login(orderer)
    return client


def page_of(client, order, name="order_detail"):
    return client.get(reverse(name, kwargs={"order_id": order.order_id}))


def test_the_emails_of_one_notice_are_one_entry_newest_first(signed_in, order):
    notifications.notify_order(order.pk)
    services.record_event(order=order, kind=EventKind.NOTE, note="A note from the data centre.")
    text = visible_text(page_of(signed_in, order))
    assert "Received: emailed to 3 people" in text
    assert text.count("Received: emailed") == 1 and "Email sent" not in text and "vera@fixit.example" in text
    timeline = text[text.index("Timeline") :]
    assert (
        timeline.index("A note from the data centre.")
        < timeline.index("Received: emailed")
        < timeline.index("Order placed")
    )


def test_the_page_polls_while_the_order_moves_and_stops_once_it_is_settled(signed_in, order):
    html = page_of(signed_in, order).content.decode()
    assert 'hx-trigger="every' in html and reverse("order_live", kwargs={"order_id": order.order_id}) in html
    live = reverse("order_live", kwargs={"order_id": order.order_id})
    assert signed_in.get(live, {"shown": "QUEUED"}, HTTP_HX_REQUEST="true").status_code == 200
    services.order_change_status(order_pk=order.pk, to_status="SUBMITTED", upstream_order_id="1-777")
    moved = signed_in.get(live, {"shown": "QUEUED"}, HTTP_HX_REQUEST="true")
    assert moved.status_code == 204 and moved["HX-Refresh"] == "true"  # the page reloads with its new actions
    settled = page_of(signed_in, order).content.decode()
    assert 'hx-trigger="every' not in settled and "1-777" in settled
    placed = signed_in.get(live, {"placed": "1"}).content.decode()
    assert "Submitted" in placed and "every" not in placed


def test_add_to_calendar_is_the_visit_in_the_ibx_zone_with_the_invites_uid(signed_in, order):
    response = page_of(signed_in, order, "order_calendar")
    assert response["Content-Type"].startswith("text/calendar")
    event = Calendar.from_ical(response.content).walk("VEVENT")[0]
    assert str(event["uid"]) == f"{order.submission_key}@workvisits" and event["status"] == "TENTATIVE"
    assert str(event["dtstart"].params["TZID"]) == "America/New_York"


def test_schedule_again_prefills_everything_but_the_dates(signed_in, order):
    response = signed_in.get(reverse("wizard"), {"again": order.order_id})
    assert response.status_code == 302 and response.url == reverse("wizard_step", kwargs={"step": "schedule"})
    visitors = signed_in.get(reverse("wizard_step", kwargs={"step": "visitors"})).content.decode()
    assert 'value="Vera"' in visitors and 'value="vera@fixit.example"' in visitors
    details = signed_in.get(reverse("wizard_step", kwargs={"step": "details"})).content.decode()
    assert order.description in details
    location = signed_in.get(reverse("wizard_step", kwargs={"step": "location"})).content.decode()
    assert 'value="DC2:01:123456" id="cage-DC2_01_123456" checked' in location
    assert signed_in.get(reverse("wizard"), {"again": "WV-NOSUCHORDER"}).status_code == 404


def test_a_rejected_order_says_why_at_the_top_with_schedule_again(signed_in, order):
    services.order_change_status(
        order_pk=order.pk,
        to_status="REJECTED",
        kind=EventKind.REJECTED,
        note="No.",
        rejection_reasons=[{"property": "", "reason": "The IBX is closed that week."}],
    )
    html = page_of(signed_in, order).content.decode()
    alert = html[html.index('id="rejection"') :]
    assert alert.index("The IBX is closed that week.") < alert.index("Schedule again") < alert.index('id="h-visit"')


def test_a_purchase_order_is_said_in_words(signed_in, order):
    Order.objects.filter(pk=order.pk).update(
        po_type="EXISTING",
        po_number="PO-778812",
        po_amount="1250.00 USD",
        po_start_date=date(2027, 1, 1),
        po_end_date=date(2027, 12, 31),
    )
    assert "Existing PO PO-778812, 1,250.00 USD, valid 1 Jan–31 Dec 2027" in visible_text(page_of(signed_in, order))


def test_the_private_calendar_feed_lists_upcoming_visits_until_it_is_switched_off(client, signed_in, order):
    made = signed_in.post(reverse("calendar_settings"), {"action": "create"}).content.decode()
    url = made.split('id="feed-url" readonly value="')[1].split('"')[0]
    assert url.startswith("webcal://")
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    client.logout()  # a calendar application has no session
    feed = Calendar.from_ical(client.get(path).content)
    assert [str(e["summary"]) for e in feed.walk("VEVENT")] == [f"Work visit {order.order_id} at DC2"]
    assert [str(z["tzid"]) for z in feed.walk("VTIMEZONE")] == ["America/New_York"]
    signed_in.force_login(order.ordered_by)
    signed_in.post(reverse("calendar_settings"), {"action": "revoke"})
    assert client.get(path).status_code == 404


def test_a_left_out_visitor_chosen_in_the_wizard_is_not_emailed(signed_in, order):
    from tests.test_web_wizard import all_steps, visitors, walk

    person = {
        "first_name": "Quentin",
        "last_name": "Quiet",
        "company_name": "Fixit",
        "email": "quentin@fixit.example",
        "leave_out": "on",
    }
    failed, response = walk(signed_in, all_steps(visitors=visitors(people=[person])))
    assert failed is None
    signed_in.get(response.url)
    placed = Order.objects.exclude(pk=order.pk).get()
    assert [v.notify for v in placed.visitors.order_by("id")] == [True, False]
    mail.outbox.clear()
    notifications.notify_order(placed.pk)
    assert "quentin@fixit.example" not in {m.to[0] for m in mail.outbox}


def test_back_after_placing_shows_the_placed_order(signed_in, order):
    from tests.test_web_wizard import all_steps, walk

    failed, response = walk(signed_in, all_steps())
    signed_in.get(response.url)
    placed = Order.objects.exclude(pk=order.pk).get()
    back = signed_in.get(reverse("wizard_step", kwargs={"step": "review"}))
    assert back.status_code == 302 and back.url == reverse("order_confirmation", kwargs={"order_id": placed.order_id})


def test_change_from_review_comes_back_to_review(signed_in):
    from tests.test_web_wizard import all_steps, walk

    walk(signed_in, all_steps()[:5])
    page = signed_in.get(reverse("wizard_step", kwargs={"step": "schedule"}), {"from": "review"}).content.decode()
    assert 'id="back-to-review"' in page


def test_viewers_are_not_offered_schedule_a_visit(client, viewer):
    client.force_login(viewer)
    assert "Schedule a visit" not in visible_text(client.get(reverse("dashboard")))
