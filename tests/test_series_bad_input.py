"""Bad input to the series endpoints gets the error array naming the JSON path, never a 500: the series'
people checked as a single visit's, every part of its recurrence within RFC 5545 and the portal's bounds,
and a series stored with broken people before these checks still usable."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar, vRecur

from tests.api_support import Api, error_props
from tests.test_series_api import NEW_YORK, SERIES, created, local_nine, series_body
from workvisits import recurrence, rules, series
from workvisits.models import SeriesOccurrence, VisitSeries

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(orderer):
    return Api(orderer)


def _coming(api, series_id: str) -> list[dict]:
    return api.get(f"{SERIES}/{series_id}").json()["occurrences"]


# ---------------------------------------------------------------------------------------------
# The people of a series: the create body's structure, on create and on change.
@pytest.mark.parametrize(
    ("change", "paths"),
    [
        ({"contacts": [None]}, ["contacts[0]"]),
        ({"details": {"visitors": [None]}}, ["details.visitors[0]"]),
        ({"details": {"visitors": [{"registeredUsers": ["orderer"]}, 7]}}, ["details.visitors[1]"]),
        ({"contacts": "the orderer"}, ["contacts"]),
        (
            {"contacts": [{"registeredUsers": ["orderer"], "type": "NOTIFICATION", "shoeSize": 9}]},
            ["contacts[0].shoeSize"],
        ),
        ({"details": {"visitors": [{"registeredUsers": [None]}]}}, ["details.visitors[0].registeredUsers[0]"]),
        ({"details": {"visitStartDateTime": 5}}, ["details.visitStartDateTime"]),
        ({"details": "tomorrow"}, ["details"]),
        ({"details": {"openCabinet": True}}, ["details.openCabinet"]),
    ],
)
def test_a_change_with_malformed_people_or_times_is_refused_naming_the_path(api, make_body, change, paths):
    series_id = created(api, make_body).json()["seriesId"]
    before = VisitSeries.objects.get(series_id=series_id).template
    third = _coming(api, series_id)[2]
    response = api.patch(f"{SERIES}/{series_id}", {"fromOccurrence": third["visitStartDateTime"], **change})
    assert response.status_code == 400, response.content
    assert error_props(response) == {rules.INVALID: paths}
    assert VisitSeries.objects.get(series_id=series_id).template == before
    assert {tuple(o.template.get("contacts") or ()) for o in SeriesOccurrence.objects.all()} <= {
        tuple(before.get("contacts") or ())
    }


def test_a_change_reports_the_structure_and_the_rules_together(api, make_body):
    series_id = created(api, make_body).json()["seriesId"]
    third = _coming(api, series_id)[2]
    too_long = rules.format_datetime(rules.parse_datetime(third["visitStartDateTime"]) + timedelta(days=15))
    response = api.patch(
        f"{SERIES}/{series_id}",
        {"fromOccurrence": third["visitStartDateTime"], "contacts": [None], "details": {"visitEndDateTime": too_long}},
    )
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: ["contacts[0]", "details.visitEndDateTime"]}


def test_a_change_naming_no_occurrence_is_refused_with_the_structure(api, make_body):
    series_id = created(api, make_body).json()["seriesId"]
    response = api.patch(f"{SERIES}/{series_id}", {"fromOccurrence": 5, "contacts": [None]})
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: ["fromOccurrence", "contacts[0]"]}


def test_a_create_with_malformed_people_is_refused_as_a_single_visit_is(api, make_body):
    body = series_body(make_body)
    body["contacts"] = [None]
    body["details"]["visitors"].append(None)
    single = {key: value for key, value in body.items() if key != "recurrence"}
    response = api.post(SERIES, body)
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: ["contacts[0]", "details.visitors[1]"]}
    assert error_props(response) == error_props(api.post("/colocations/v2/orders/workVisits", single))
    assert not VisitSeries.objects.exists()


def test_a_create_with_an_unknown_property_or_no_recurrence_is_refused(api, make_body):
    body = series_body(make_body)
    body["colour"] = "blue"
    del body["recurrence"]
    response = api.post(SERIES, body)
    assert response.status_code == 400
    assert error_props(response) == {rules.INVALID: ["colour"], rules.MISSING: ["recurrence"]}


def test_a_series_stored_with_null_people_works_again(api, orderer, make_body):
    """A series whose template took nulls before the change was checked: its readers pass them over."""
    series_id = created(api, make_body).json()["seriesId"]
    stored = VisitSeries.objects.get(series_id=series_id)
    broken = {**stored.template, "contacts": [None, "x", {"type": "TECHNICAL", "registeredUsers": "orderer"}]}
    broken["details"] = {**broken["details"], "visitors": [None, *broken["details"]["visitors"], 3]}
    VisitSeries.objects.filter(pk=stored.pk).update(template=broken)
    SeriesOccurrence.objects.filter(series=stored, order__isnull=True).update(template=broken)
    visits = _coming(api, series_id)

    page = Client()
    page.force_login(orderer)
    assert page.get(reverse("series_detail", kwargs={"series_id": series_id})).status_code == 200
    assert series.series_notify(series_pk=stored.pk) >= 0
    changed = api.patch(
        f"{SERIES}/{series_id}",
        {
            "fromOccurrence": visits[3]["visitStartDateTime"],
            "contacts": [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}],
        },
    )
    assert changed.status_code == 200, changed.content
    skipped = api.post(f"{SERIES}/{series_id}/skip", {"visitStartDateTime": visits[0]["visitStartDateTime"]})
    assert skipped.status_code == 200, skipped.content
    cancelled = api.post(f"{SERIES}/{series_id}/cancel", {"reason": "cancel the series"})
    assert cancelled.status_code == 202, cancelled.content
    assert series.series_notify(series_pk=stored.pk) >= 0


@pytest.mark.parametrize(
    ("action", "body", "code", "paths"),
    [
        ("skip", {"visitStartDateTime": 5}, rules.INVALID, ["visitStartDateTime"]),
        ("skip", {"visitStartDateTime": ["2027-01-01T00:00:00Z"]}, rules.INVALID, ["visitStartDateTime"]),
        ("skip", {}, rules.MISSING, ["visitStartDateTime"]),
        ("cancel", {"reason": 12345}, rules.INVALID, ["reason"]),
        ("cancel", {"reason": None}, rules.MISSING, ["reason"]),
        ("cancel", [], rules.INVALID, ["$"]),
    ],
)
def test_skip_and_cancel_refuse_malformed_bodies(api, make_body, action, body, code, paths):
    series_id = created(api, make_body).json()["seriesId"]
    response = api.post(f"{SERIES}/{series_id}/{action}", body)
    assert response.status_code == 400, response.content
    assert error_props(response).get(code) == paths


# ---------------------------------------------------------------------------------------------
# The recurrence: every part within RFC 5545 and the portal's bounds.
@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;UNTIL=99991231", "before the year 9999"),
        ("FREQ=WEEKLY;UNTIL=99991231T235959", "before the year 9999"),
        ("FREQ=WEEKLY;UNTIL=99991231T235959Z", "before the year 9999"),
        ("FREQ=WEEKLY;UNTIL=20270231", "UNTIL must be a date"),
        ("FREQ=WEEKLY;UNTIL=20001231", "UNTIL is before the first visit's start"),
        ("FREQ=WEEKLY;UNTIL=00010101", "after the first visit and before the year 9999"),
        ("FREQ=WEEKLY;UNTIL=00000101", "UNTIL must be a date"),
        ("FREQ=WEEKLY;INTERVAL=99999999999999;COUNT=3", "INTERVAL must be a whole number from 1 to 104"),
        ("FREQ=DAILY;INTERVAL=732;COUNT=1", "INTERVAL must be a whole number from 1 to 731"),
        ("FREQ=MONTHLY;INTERVAL=25;COUNT=2", "from 1 to 24"),
        ("FREQ=YEARLY;INTERVAL=3;COUNT=2", "from 1 to 2"),
        ("FREQ=WEEKLY;INTERVAL=0;COUNT=3", "INTERVAL must be"),
        ("FREQ=WEEKLY;INTERVAL=-1;COUNT=3", "INTERVAL must be"),
        ("FREQ=WEEKLY;INTERVAL=+2;COUNT=3", "INTERVAL must be"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a whole number from 1 to 100"),
        ("FREQ=WEEKLY;COUNT=99999999999999999999", "COUNT must be"),
        ("FREQ=MONTHLY;BYDAY=99999999999999999999MO;COUNT=3", "BYDAY must list weekdays"),
        ("FREQ=MONTHLY;BYDAY=6MO;COUNT=3", "not a weekday of the month"),
        ("FREQ=MONTHLY;BYDAY=0MO;COUNT=3", "not a weekday of the month"),
        ("FREQ=YEARLY;BYDAY=54MO;COUNT=2", "not a weekday of the year"),
        ("FREQ=WEEKLY;BYDAY=2MO;COUNT=3", "needs FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO;COUNT=2", "needs FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=WEEKLY;BYDAY=XX;COUNT=3", "BYDAY must list weekdays"),
        ("FREQ=WEEKLY;BYDAY=MO,,TU;COUNT=3", "BYDAY must list weekdays"),
        ("FREQ=WEEKLY;BYDAY=+-MO;COUNT=3", "BYDAY must list weekdays"),
        ("FREQ=MONTHLY;BYMONTHDAY=0;COUNT=3", "BYMONTHDAY must list whole numbers from 1 to 31"),
        ("FREQ=MONTHLY;BYMONTHDAY=-0;COUNT=3", "BYMONTHDAY must list"),
        ("FREQ=MONTHLY;BYMONTHDAY=32;COUNT=3", "BYMONTHDAY must list"),
        ("FREQ=MONTHLY;BYMONTHDAY=99999999999999999;COUNT=3", "BYMONTHDAY must list"),
        ("FREQ=WEEKLY;BYMONTHDAY=1;COUNT=3", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
        ("FREQ=YEARLY;BYMONTH=13;COUNT=2", "BYMONTH must list whole numbers from 1 to 12"),
        ("FREQ=YEARLY;BYMONTH=-1;COUNT=2", "BYMONTH must list"),
        ("FREQ=YEARLY;BYYEARDAY=367;COUNT=2", "BYYEARDAY must list"),
        ("FREQ=DAILY;BYYEARDAY=1;COUNT=2", "BYYEARDAY cannot be used with FREQ=DAILY"),
        ("FREQ=YEARLY;BYWEEKNO=54;COUNT=2", "BYWEEKNO must list"),
        ("FREQ=MONTHLY;BYWEEKNO=1;COUNT=2", "BYWEEKNO cannot be used with FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0;COUNT=3", "BYSETPOS must list"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=99999999999999999999;COUNT=3", "BYSETPOS must list"),
        ("FREQ=DAILY;BYSETPOS=1;COUNT=3", "BYSETPOS picks among"),
        ("FREQ=WEEKLY;WKST=XX;COUNT=3", "WKST must be one weekday"),
        ("FREQ=WEEKLY;WKST=MO,TU;COUNT=3", "WKST must be one weekday"),
        ("FREQ=DAILY;BYSETPOS=7;BYDAY=TU;COUNT=3", "at most 1 day of one period of FREQ=DAILY"),
        ("FREQ=WEEKLY;BYSETPOS=-8;BYDAY=TU;COUNT=3", "number it from 1 to 7 or -7 to -1"),
        ("FREQ=DAILY;BYMONTH=2,4;BYMONTHDAY=31,-31;COUNT=3", "gives no day (such as 30 February)"),
    ],
)
def test_a_recurrence_out_of_range_is_refused_naming_recurrence(api, make_body, rule, words):
    response = api.post(SERIES, series_body(make_body, rule=rule))
    assert response.status_code == 400, response.content
    assert error_props(response) == {rules.INVALID: ["recurrence"]}
    assert words in response.json()[0]["additionalInfo"][0]["reason"]
    assert not VisitSeries.objects.exists()


def _matching(rule: str, days: int = 3) -> tuple[str, str]:
    """`rule` with {weekday} and {day} of the first visit's local date filled in, and that visit's start."""
    start = local_nine(days)
    local = start.astimezone(NEW_YORK)
    weekday = recurrence.WEEKDAYS[local.weekday()]
    nth = (local.day - 1) // 7 + 1
    return rule.format(weekday=weekday, day=local.day, nth=nth, month=local.month), rules.format_datetime(start)


@pytest.mark.parametrize(
    ("rule", "stored"),
    [
        ("FREQ=WEEKLY;INTERVAL=104;COUNT=2", "FREQ=WEEKLY;INTERVAL=104;COUNT=2"),
        ("FREQ=DAILY;INTERVAL=0731;COUNT=2", "FREQ=DAILY;INTERVAL=731;COUNT=2"),
        ("FREQ=MONTHLY;INTERVAL=24;COUNT=2", "FREQ=MONTHLY;INTERVAL=24;COUNT=2"),
        ("FREQ=WEEKLY;BYDAY={weekday};COUNT=03", "FREQ=WEEKLY;BYDAY={weekday};COUNT=3"),
        ("FREQ=MONTHLY;BYDAY=+{nth}{weekday};COUNT=3", "FREQ=MONTHLY;BYDAY={nth}{weekday};COUNT=3"),
        ("FREQ=MONTHLY;BYMONTHDAY=+{day};COUNT=3", "FREQ=MONTHLY;BYMONTHDAY={day};COUNT=3"),
        (
            "FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day};COUNT=2",
            "FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day};COUNT=2",
        ),
        ("FREQ=MONTHLY;BYDAY={weekday};BYSETPOS={nth};COUNT=3", "FREQ=MONTHLY;BYDAY={weekday};BYSETPOS={nth};COUNT=3"),
    ],
)
def test_rules_within_the_bounds_are_stored_plainly_and_invited(api, make_body, rule, stored):
    rule, _ = _matching(rule)
    stored, _ = _matching(stored)
    response = api.post(SERIES, series_body(make_body, rule=rule))
    assert response.status_code == 201, response.content
    assert response.json()["recurrence"] == stored
    created_series = VisitSeries.objects.get(series_id=response.json()["seriesId"])
    invite = Calendar.from_ical(series.series_invite(created_series))
    (event,) = invite.walk("VEVENT")
    assert event["RRULE"].to_ical() == vRecur.from_ical(stored).to_ical()
    assert series.series_notify(series_pk=created_series.pk) >= 1


def test_an_until_on_the_first_visits_day_gives_that_visit(api, make_body):
    start = local_nine(3).astimezone(NEW_YORK)
    response = api.post(SERIES, series_body(make_body, rule=f"FREQ=DAILY;UNTIL={start:%Y%m%d}"))
    assert response.status_code == 201, response.content
    assert len(response.json()["occurrences"]) == 1
