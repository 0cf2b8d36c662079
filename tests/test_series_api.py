"""The series endpoints of the JSON API (the portal's extension): create, read, change, skip, cancel, errors."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.api_support import Api, error_props, token_for
from tests.test_api_schema import CHECKS, api_schema, call  # noqa: F401 (fixture)
from workvisits import rules
from workvisits.choices import OrderStatus
from workvisits.models import Order, VisitSeries

pytestmark = pytest.mark.django_db

SERIES = "/colocations/v2/orders/workVisits/series"
NEW_YORK = ZoneInfo("America/New_York")


def local_nine(days: int) -> datetime:
    """09:00 in Ashburn `days` days from now, in UTC."""
    day = (timezone.now() + timedelta(days=days)).astimezone(NEW_YORK).date()
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=NEW_YORK).astimezone(UTC)


def series_body(make_body, rule="FREQ=WEEKLY;COUNT=6", days=3, **overrides):
    body = make_body(start=local_nine(days), hours=3, **overrides)
    body["recurrence"] = rule
    return body


@pytest.fixture
def api(orderer):
    return Api(orderer)


def created(api, make_body, **kwargs):
    response = api.post(SERIES, series_body(make_body, **kwargs))
    assert response.status_code == 201, response.content
    return response


def test_create_answers_201_with_the_location_and_get_lists_the_occurrences(api, make_body):
    response = created(api, make_body)
    body = response.json()
    series_id = body["seriesId"]
    assert response["Location"] == f"/orders/workVisits/series/{series_id}"

    read = api.get(f"{SERIES}/{series_id}")
    assert read.status_code == 200
    shown = read.json()
    assert {"seriesId", "recurrence", "status", "occurrences"} <= set(shown)
    assert shown["recurrence"] == "FREQ=WEEKLY;COUNT=6" and shown["status"] == "ACTIVE"
    visits = shown["occurrences"]
    assert len(visits) == 6
    assert set(visits[0]) >= {"visitStartDateTime", "visitEndDateTime", "orderId", "status"}
    starts = [rules.parse_datetime(v["visitStartDateTime"]) for v in visits]
    assert {s.astimezone(NEW_YORK).strftime("%a %H:%M") for s in starts} == {
        starts[0].astimezone(NEW_YORK).strftime("%a 09:00")
    }
    # Within the lead time (14 days) the orders exist at once, ordinary orders; later ones are still to come.
    placed = [v for v in visits if v["orderId"]]
    assert [v["visitStartDateTime"] for v in placed] == [v["visitStartDateTime"] for v in visits[:2]]
    assert all(v["status"] == OrderStatus.QUEUED for v in placed)
    assert [v["orderId"] for v in visits[2:]] == [None] * 4 and {v["status"] for v in visits[2:]} == {"PLANNED"}
    order = api.get(f"/colocations/v2/orders/{placed[0]['orderId']}").json()
    assert order["workVisit"]["visitStartDateTime"] == visits[0]["visitStartDateTime"]


@pytest.mark.parametrize(
    ("change", "code", "properties"),
    [
        ({"recurrence": "FREQ=WEEKLY;BYDAY=TU", "description": "short"}, rules.INVALID, ["recurrence", "description"]),
        ({"recurrence": None}, rules.MISSING, ["recurrence"]),
        ({"attachments": [{"id": "00000000-0000-0000-0000-000000000001"}]}, rules.INVALID, ["attachments"]),
    ],
)
def test_bad_bodies_get_the_error_array_with_json_paths(api, make_body, change, code, properties):
    body = series_body(make_body)
    body.update(change)
    response = api.post(SERIES, body)
    assert response.status_code == 400
    assert set(properties) <= set(error_props(response).get(code, []))
    assert not VisitSeries.objects.exists()


def test_the_first_visit_is_checked_like_a_single_visit(api, make_body):
    body = series_body(make_body, days=-2)  # it would start in the past
    body["details"]["cages"][0]["accountNumber"] = "9999999999"
    single = dict(body)
    single.pop("recurrence")
    series_errors = error_props(api.post(SERIES, body))
    single_errors = error_props(api.post("/colocations/v2/orders/workVisits", single))
    assert series_errors == single_errors
    assert "details.visitStartDateTime" in series_errors[rules.INVALID]


def test_only_members_with_the_ordering_permission_create_and_change(api, make_body, users):
    viewer = Api(users["viewer"])
    refused = viewer.post(SERIES, series_body(make_body))
    assert refused.status_code == 403 and rules.NO_CREATE_PERMISSION in error_props(refused)

    series_id = created(api, make_body).json()["seriesId"]
    # The viewer sees the organization's orders, so the series too, and may change them (CONTRACT "Modify");
    # a member who sees neither gets 404.
    assert viewer.get(f"{SERIES}/{series_id}").status_code == 200
    member = Api(users["technician"]).post(f"{SERIES}/{series_id}/cancel", {"reason": "Not mine to cancel."})
    assert member.status_code == 404 and error_props(member) == {rules.NOT_FOUND: ["seriesId"]}
    assert viewer.post(f"{SERIES}/{series_id}/cancel", {"reason": "Cancelled for the team."}).status_code == 202
    # Another organization does not see it at all.
    other = Api(users["globex"]).get(f"{SERIES}/{series_id}")
    assert other.status_code == 404 and error_props(other) == {rules.NOT_FOUND: ["seriesId"]}
    assert api.get(f"{SERIES}/WS-NOSUCHSERIES").status_code == 404
    assert Api().get(f"{SERIES}/{series_id}").status_code == 401


def test_patch_changes_the_series_from_an_occurrence_on(api, make_body):
    series_id = created(api, make_body).json()["seriesId"]
    visits = api.get(f"{SERIES}/{series_id}").json()["occurrences"]
    third = visits[2]
    later = {
        key: rules.format_datetime(rules.parse_datetime(third[key]) + timedelta(hours=1))
        for key in ("visitStartDateTime", "visitEndDateTime")
    }
    response = api.patch(
        f"{SERIES}/{series_id}",
        {"fromOccurrence": third["visitStartDateTime"], "details": later},
    )
    assert response.status_code == 200, response.content
    visits = response.json()["occurrences"]
    hours = [rules.parse_datetime(v["visitStartDateTime"]).astimezone(NEW_YORK).hour for v in visits]
    assert hours == [9, 9, 10, 10, 10, 10]

    wrong = api.patch(f"{SERIES}/{series_id}", {"fromOccurrence": "2020-01-01T00:00:00Z", "details": later})
    assert wrong.status_code == 400 and error_props(wrong) == {rules.INVALID: ["fromOccurrence"]}
    missing = api.patch(f"{SERIES}/{series_id}", {"details": later})
    assert missing.status_code == 400 and error_props(missing) == {rules.MISSING: ["fromOccurrence"]}
    too_long = api.patch(
        f"{SERIES}/{series_id}",
        {
            "fromOccurrence": visits[3]["visitStartDateTime"],
            "details": {
                "visitEndDateTime": rules.format_datetime(
                    rules.parse_datetime(visits[3]["visitStartDateTime"]) + timedelta(days=15)
                )
            },
        },
    )
    assert too_long.status_code == 400 and "details.visitEndDateTime" in error_props(too_long)[rules.INVALID]
    unknown = api.patch(
        f"{SERIES}/{series_id}", {"fromOccurrence": third["visitStartDateTime"], "details": {"openCabinet": True}}
    )
    assert unknown.status_code == 400 and error_props(unknown) == {rules.INVALID: ["details.openCabinet"]}


def test_skip_and_cancel_the_rest(api, make_body):
    series_id = created(api, make_body).json()["seriesId"]
    visits = api.get(f"{SERIES}/{series_id}").json()["occurrences"]
    skipped = api.post(f"{SERIES}/{series_id}/skip", {"visitStartDateTime": visits[0]["visitStartDateTime"]})
    assert skipped.status_code == 200
    after = skipped.json()["occurrences"]
    assert after[0]["status"] == OrderStatus.CANCELLED and after[0]["orderId"] == visits[0]["orderId"]
    again = api.post(f"{SERIES}/{series_id}/skip", {"visitStartDateTime": visits[0]["visitStartDateTime"]})
    assert again.status_code == 409

    no_reason = api.post(f"{SERIES}/{series_id}/cancel", {})
    assert no_reason.status_code == 400 and error_props(no_reason) == {rules.MISSING: ["reason"]}
    cancelled = api.post(f"{SERIES}/{series_id}/cancel", {"reason": "The racks moved to AM1."})
    assert cancelled.status_code == 202
    shown = cancelled.json()
    assert shown["status"] == "CANCELLED" and {v["status"] for v in shown["occurrences"]} == {"CANCELLED"}
    assert Order.objects.get(order_id=visits[1]["orderId"]).status == OrderStatus.CANCELLED
    assert api.post(f"{SERIES}/{series_id}/cancel", {"reason": "Once more, please."}).status_code == 409
    assert api.patch(f"{SERIES}/{series_id}", {"fromOccurrence": visits[3]["visitStartDateTime"]}).status_code == 409


def test_the_openapi_document_describes_the_series_endpoints(api):
    schema = api.get("/colocations/v2/openapi.json").json()
    paths = schema["paths"]
    assert {"post"} <= set(paths["/colocations/v2/orders/workVisits/series"])
    assert {"get", "patch"} <= set(paths["/colocations/v2/orders/workVisits/series/{seriesId}"])
    assert "post" in paths["/colocations/v2/orders/workVisits/series/{seriesId}/cancel"]
    create = paths["/colocations/v2/orders/workVisits/series"]["post"]
    assert "201" in create["responses"] and "400" in create["responses"]


def test_real_answers_keep_to_the_openapi_document(api_schema, orderer, make_body):  # noqa: F811
    """The series' successful answers, validated by Schemathesis against the served document."""
    token = token_for(orderer)
    auth = {"Authorization": f"Bearer {token}"}

    def answered(method, path, expected, **kwargs):
        case = api_schema[path][method].Case(headers=auth, **kwargs)
        response = call(case)
        assert response.status_code == expected, response.text
        case.validate_response(response, checks=CHECKS)
        return response.json()

    item = "/colocations/v2/orders/workVisits/series/{seriesId}"
    shown = answered(
        "POST", SERIES, 201, body=series_body(make_body, rule="FREQ=WEEKLY;COUNT=3"), media_type="application/json"
    )
    where = {"seriesId": shown["seriesId"]}
    visits = answered("GET", item, 200, path_parameters=where)["occurrences"]
    answered(
        "PATCH",
        item,
        200,
        path_parameters=where,
        body={
            "fromOccurrence": visits[2]["visitStartDateTime"],
            "contacts": [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}],
        },
        media_type="application/json",
    )
    answered(
        "POST",
        item + "/skip",
        200,
        path_parameters=where,
        body={"visitStartDateTime": visits[0]["visitStartDateTime"], "reason": "Public holiday."},
        media_type="application/json",
    )
    done = answered(
        "POST",
        item + "/cancel",
        202,
        path_parameters=where,
        body={"reason": "Plans changed."},
        media_type="application/json",
    )
    assert done["status"] == "CANCELLED"
