"""How far ahead a visit may start (rules.MAX_START_AHEAD), and the purchase order's amount and dates:
in the rules, the API's create and modify, the wizard's schedule and details steps, the order page, the
admin and visit series."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tests.api_support import Api, error_props
from tests.test_web_wizard import DETAILS, LOCATION, all_steps, management, schedule, shown, step_url, walk
from workvisits import rules, series, services
from workvisits.models import Order

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = "details.visitStartDateTime"
CREATE = "/colocations/v2/orders/workVisits"


def wire(moment: datetime) -> str:
    return rules.format_datetime(moment)


# ---------------------------------------------------------------------------------------------
# The rules, without a database.
def test_a_visit_starts_at_most_365_days_ahead():
    assert rules.MAX_START_AHEAD == timedelta(days=365)
    latest = NOW + rules.MAX_START_AHEAD
    assert rules.schedule_errors(latest, latest + timedelta(hours=4), NOW) == []
    errors = rules.schedule_errors(latest + timedelta(seconds=1), latest + timedelta(hours=4), NOW)
    assert [(e.path, e.code) for e in errors] == [(START, rules.INVALID)]
    assert errors[0].message == f"{START} is more than 365 days from now. {rules.FAR_AHEAD_HINT}"
    assert "choose an earlier start" in rules.FAR_AHEAD_HINT


def test_the_far_ahead_rule_judges_only_a_start_that_is_checked_against_now():
    far = NOW + timedelta(days=400)
    assert rules.schedule_errors(far, far + timedelta(hours=1), NOW, check_start_in_past=False) == []
    assert rules.schedule_errors(far, far + timedelta(hours=1), NOW, check_start_ahead=False) == []


def _modify(body, start, end):
    order = rules.OrderFacts(status="QUEUED", visit_start=start, visit_end=end, ordered_by="orderer")
    ctx = rules.OrderingContext(now=NOW, cages={}, orderable=frozenset(), usernames=frozenset())
    return rules.validate_modify(body, ctx, order)[0]


def test_modify_refuses_moving_the_start_too_far_but_not_other_changes_of_an_order_already_far():
    soon = NOW + timedelta(days=3)
    moved = {"details": {"visitStartDateTime": wire(NOW + timedelta(days=400))}}
    errors = _modify(
        {"details": {**moved["details"], "visitEndDateTime": wire(NOW + timedelta(days=400, hours=2))}}, soon, soon
    )
    assert [e.path for e in errors] == [START]
    # An order placed before the rule, already far ahead: its end and open-cabinet choice may still change.
    far = NOW + timedelta(days=500)
    assert (
        _modify({"details": {"visitEndDateTime": wire(far + timedelta(hours=5))}}, far, far + timedelta(hours=1)) == []
    )
    assert _modify({"details": {"openCabinet": True}}, far, far + timedelta(hours=1)) == []


PO_CTX = rules.OrderingContext(now=NOW, cages={}, orderable=frozenset(), usernames=frozenset())


def po_errors(**po) -> list[tuple[str, str]]:
    errors, _ = rules.purchase_order_errors_and_clean({"type": "NEW", **po}, (), PO_CTX)
    return [(e.path, e.message) for e in errors]


@pytest.mark.parametrize(
    "amount",
    ["abc", "-1", -1, -0.5, "1,250.00", "1250.00 USD", "$5", "1e999", "inf", "nan", "1_000", "+5", "0x10", "١٢٣"],
)
def test_an_amount_that_is_no_non_negative_number_is_refused_at_its_path(amount):
    [(path, message)] = po_errors(amount=amount)
    assert path == "purchaseOrder.amount"
    assert message.startswith("purchaseOrder.amount must be a non-negative number, such as 1250")


@pytest.mark.parametrize("amount", ["100", 100, 0, "0", 1500.5, "1250.50", " 20 ", "1e3", 1e20, ".5", "", None])
def test_a_non_negative_number_as_json_number_or_numeric_string_is_an_amount(amount):
    assert po_errors(amount=amount) == []


@pytest.mark.parametrize("value", ["2026-13-01", "garbage", "2026-02-30", "20260301", "2026-W10-1", "01-03-2026", 5])
@pytest.mark.parametrize("key", ["startDate", "endDate"])
def test_a_purchase_order_date_that_is_no_date_is_refused_not_dropped(key, value):
    [(path, message)] = po_errors(**{key: value})
    assert path == f"purchaseOrder.{key}"
    assert message == f"purchaseOrder.{key} must be a real date written YYYY-MM-DD, such as 2026-05-22."


def test_a_purchase_order_ending_before_it_starts_is_refused():
    assert [p for p, _ in po_errors(startDate="2026-05-01", endDate="2026-04-30")] == ["purchaseOrder.endDate"]
    assert po_errors(startDate="2026-05-01", endDate="2026-05-01", amount="10") == []
    _, clean = rules.purchase_order_errors_and_clean(
        {"type": "NEW", "amount": 12.5, "startDate": "2026-05-01"}, (), PO_CTX
    )
    assert (clean.amount, clean.start_date.isoformat(), clean.end_date) == ("12.5", "2026-05-01", None)


# ---------------------------------------------------------------------------------------------
# The JSON API.
@pytest.mark.parametrize(
    ("start", "end"),
    [("9998-12-31T22:00:00Z", "9998-12-31T23:00:00Z"), ("3000-06-01T09:00:00Z", "3000-06-01T12:00:00Z")],
)
def test_api_create_of_a_far_future_visit_is_a_400_naming_the_start(orderer, make_body, start, end):
    body = make_body()
    body["details"].update(visitStartDateTime=start, visitEndDateTime=end)
    response = Api(orderer).post(CREATE, body)
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: [START]}
    reason = response.json()[0]["additionalInfo"][0]["reason"]
    assert "more than 365 days from now" in reason and "choose an earlier start" in reason
    assert not Order.objects.exists()


def test_api_create_within_the_limit_is_accepted(orderer, make_body):
    start = (datetime.now(UTC) + timedelta(days=364)).replace(microsecond=0)
    assert Api(orderer).post(CREATE, make_body(start=start)).status_code == 201
    late = Api(orderer).post(CREATE, make_body(start=start + timedelta(days=2)))
    assert late.status_code == 400 and error_props(late) == {rules.INVALID: [START]}


def test_api_modify_moving_the_start_too_far_is_a_400_and_changes_nothing(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    far = (datetime.now(UTC) + timedelta(days=400)).replace(microsecond=0)
    body = {"details": {"visitStartDateTime": wire(far), "visitEndDateTime": wire(far + timedelta(hours=2))}}
    response = Api(orderer).patch(f"{CREATE}/{order.order_id}", body)
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: [START]}
    assert Order.objects.get(pk=order.pk).visit_start == order.visit_start


@pytest.mark.parametrize(
    ("po", "path"),
    [
        ({"amount": "abc"}, "purchaseOrder.amount"),
        ({"amount": -1}, "purchaseOrder.amount"),
        ({"amount": "-1"}, "purchaseOrder.amount"),
        ({"amount": "10", "startDate": "20260301"}, "purchaseOrder.startDate"),
        ({"amount": "10", "startDate": "2026-05-02", "endDate": "2026-05-01"}, "purchaseOrder.endDate"),
    ],
)
def test_api_create_with_a_bad_purchase_order_is_a_400_naming_the_field(orderer, make_body, po, path):
    response = Api(orderer).post(CREATE, make_body(purchaseOrder={"type": "NEW", **po}))
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: [path]}
    assert not Order.objects.exists()


@pytest.mark.parametrize("amount", ["2020", 2020, 1500.5, "0"])
def test_api_create_with_a_numeric_amount_is_accepted(orderer, make_body, amount):
    po = {"type": "NEW", "amount": amount, "startDate": "2026-03-01", "endDate": "2026-04-01"}
    assert Api(orderer).post(CREATE, make_body(purchaseOrder=po)).status_code == 201


# ---------------------------------------------------------------------------------------------
# The wizard and the order page.
@pytest.fixture
def signed_in(orderer):
    client = Client(raise_request_exception=False)
    client.force_login(orderer)
    return client


def _schedule_step(client, start, end):
    prefix = management(client)
    assert client.post(step_url("location"), {f"{prefix}-current_step": "location", **LOCATION}).status_code == 302
    return client.post(step_url("schedule"), {f"{prefix}-current_step": "schedule", **schedule(start, end)})


def _local(days: int, hour: int) -> str:
    moment = datetime.now(UTC) + timedelta(days=days)
    return f"{moment:%Y-%m-%d}T{hour:02}:00"


def test_the_wizard_schedule_step_refuses_a_start_too_far_ahead_in_words(signed_in):
    response = _schedule_step(signed_in, _local(400, 9), _local(400, 12))
    assert response.status_code == 200
    message = shown(response, "id_schedule-start")
    assert message.startswith("The visit start is more than 365 days from now.")
    assert "details." not in message  # a person reads words, not JSON paths
    assert _schedule_step(signed_in, _local(300, 9), _local(300, 12)).status_code == 302


def test_the_wizard_says_a_date_at_the_start_of_the_calendar_is_in_the_past(signed_in):
    response = _schedule_step(signed_in, "0001-01-01T09:00", "0001-01-01T12:00")
    assert response.status_code == 200
    assert shown(response, "id_schedule-start") == "That date is in the past; choose a date and time from now on."
    assert "9999" not in response.content.decode()


def test_rescheduling_on_the_order_page_too_far_ahead_is_refused(signed_in, orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    response = signed_in.post(
        reverse("order_reschedule", kwargs={"order_id": order.order_id}),
        {"start": _local(400, 9), "end": _local(400, 12), "version": order.version},
    )
    assert response.status_code == 400
    assert "The visit start is more than 365 days from now." in response.content.decode()
    assert Order.objects.get(pk=order.pk).version == order.version


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("po_amount", "abc", "The purchase order amount must be a non-negative number"),
        ("po_amount", "-1", "The purchase order amount must be a non-negative number"),
        ("po_start_date", "2026-13-01", "The purchase order's start date must be a real date written YYYY-MM-DD"),
        ("po_end_date", "garbage", "The purchase order's end date must be a real date written YYYY-MM-DD"),
    ],
)
def test_the_wizard_details_step_refuses_a_bad_purchase_order_field_in_words(signed_in, field, value, words):
    details = {**DETAILS, "details-po_type": "NEW", f"details-{field}": value}
    failed, response = walk(signed_in, all_steps(details=details))
    assert failed == "details"
    assert html.unescape(shown(response, f"id_details-{field}")).startswith(words)
    assert not Order.objects.exists()


def test_the_wizard_refuses_a_purchase_order_ending_before_it_starts(signed_in):
    details = {
        **DETAILS,
        "details-po_type": "NEW",
        "details-po_start_date": "2026-05-02",
        "details-po_end_date": "2026-05-01",
    }
    failed, response = walk(signed_in, all_steps(details=details))
    assert failed == "details"
    words = "The purchase order's end date must not be before the start date."
    assert html.unescape(shown(response, "id_details-po_end_date")) == words


def test_the_wizard_keeps_a_good_purchase_order(signed_in):
    details = {
        **DETAILS,
        "details-po_type": "NEW",
        "details-po_amount": "1250.50",
        "details-po_start_date": "2026-03-01",
        "details-po_end_date": "2026-04-01",
    }
    failed, response = walk(signed_in, all_steps(details=details))
    assert failed is None
    signed_in.get(response.url)
    order = Order.objects.get()
    assert (order.po_amount, str(order.po_start_date), str(order.po_end_date)) == (
        "1250.50",
        "2026-03-01",
        "2026-04-01",
    )


# ---------------------------------------------------------------------------------------------
# The admin: it shows orders and moves them through their states, and never writes a visit time or a
# purchase order, so no admin path can bring a far-future visit or a bad amount past the rules.
def test_the_admin_cannot_add_an_order_or_write_its_times_or_purchase_order(users, orderer, make_body):
    order = services.order_create(user=orderer, data=make_body(purchaseOrder={"type": "NEW", "amount": "5"}))
    client = Client(raise_request_exception=False)
    client.force_login(users["admin"])
    assert client.get(reverse("admin:workvisits_order_add")).status_code == 403
    change = reverse("admin:workvisits_order_change", args=[order.pk])
    page = client.get(change).content.decode()
    assert not re.search(r'name="(visit_start|visit_end|po_amount|po_start_date|po_end_date)"', page)
    client.post(change, {"visit_start": "9998-12-31 22:00:00", "po_amount": "abc", "po_start_date": "2026-13-01"})
    stored = Order.objects.get(pk=order.pk)
    assert (stored.visit_start, stored.po_amount, stored.po_start_date) == (order.visit_start, "5", None)


# ---------------------------------------------------------------------------------------------
# Visit series: the first visit keeps to the limit; later ones may lie further ahead, since each is
# ordered only SERIES_LEAD_DAYS before it.
SERIES_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIRST = datetime(2027, 1, 5, 14, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Ashburn
WEEKLY_60 = "FREQ=WEEKLY;BYDAY=TU;COUNT=60"  # the last visit over 440 days from SERIES_NOW


@pytest.fixture
def clock():
    with time_machine.travel(SERIES_NOW, tick=False) as traveller:
        yield traveller


def _series_body(make_body, start=FIRST, rule=WEEKLY_60):
    body = make_body(start=start, hours=3)
    body["recurrence"] = rule
    return body


def test_a_series_whose_later_visits_are_far_ahead_is_accepted_and_ordered_at_the_lead_time(
    clock, orderer, make_body, settings
):
    settings.SERIES_LEAD_DAYS = 14
    created = series.series_create(user=orderer, data=_series_body(make_body))
    last = created.occurrences.order_by("recurrence_start").last()
    assert created.occurrences.count() == 60
    assert last.visit_start - SERIES_NOW > rules.MAX_START_AHEAD
    clock.move_to(last.visit_start - timedelta(days=13))
    series.series_materialize()
    last.refresh_from_db()
    assert last.order_id is not None and last.order.visit_start == last.visit_start


def test_a_series_whose_first_visit_is_too_far_ahead_is_refused_at_the_start(clock, orderer, make_body):
    with pytest.raises(rules.RuleViolation) as refused:
        series.series_create(user=orderer, data=_series_body(make_body, start=FIRST + timedelta(days=364)))
    assert [e.path for e in refused.value.errors] == [START]


def test_a_series_may_be_changed_from_a_visit_more_than_365_days_ahead(clock, orderer, make_body):
    created = series.series_create(user=orderer, data=_series_body(make_body))
    last = created.occurrences.order_by("recurrence_start").last()
    series.series_modify(
        user=orderer,
        series_id=created.series_id,
        data={
            "fromOccurrence": wire(last.visit_start),
            "contacts": [{"type": "NOTIFICATION", "registeredUsers": ["technician"]}],
        },
    )
