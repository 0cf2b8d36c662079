"""POST /colocations/v2/orders/workVisits: the seed's body, every rule, permissions, one transaction."""

import copy
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api_support import SEED_CREATE_SAMPLE, Api, error_props, media_in
from workvisits.catalogue import catalogue_changed
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Account, Cage, Order, User
from workvisits.rules import format_datetime

CREATE = "/colocations/v2/orders/workVisits"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    media_in(settings, tmp_path)


def future_seed_sample(api):
    """The seed's create sample with future dates, demo users and the caller's own attachments."""
    body = copy.deepcopy(SEED_CREATE_SAMPLE)
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    body["details"]["visitStartDateTime"] = format_datetime(start)
    body["details"]["visitEndDateTime"] = format_datetime(start + timedelta(hours=6))
    body["details"]["visitors"] = [{"registeredUsers": ["orderer", "technician"]}]
    body["contacts"][0]["registeredUsers"] = ["viewer"]
    uploads = [api.upload(name, PNG).json()["attachmentId"] for name in ("po.png", "error-log.png")]
    body["purchaseOrder"]["attachmentId"] = uploads[0]
    body["attachments"] = [{"id": uploads[1], "name": "error-log"}]
    return body


def test_the_seed_sample_with_future_dates_and_demo_users_is_created(orderer):
    api = Api(orderer)
    body = future_seed_sample(api)
    response = api.post(CREATE, body)
    assert response.status_code == 201, response.json()
    order_id = response.json()["orderId"]
    assert response["Location"] == f"/orders/{order_id}"
    order = Order.objects.get(order_id=order_id)
    assert order.status == OrderStatus.QUEUED
    assert order.po_type == "EXISTING" and order.po_number == "1091238010"
    assert sorted(v.user.username for v in order.visitors.all()) == ["orderer", "technician"]
    assert sorted((c.contact_type, c.user.username) for c in order.contacts.all()) == [
        ("NOTIFICATION", "viewer"),
        ("TECHNICAL", "orderer"),
    ]
    assert [str(a.id) for a in order.attachments.all()] == [body["attachments"][0]["id"]]
    assert list(order.events.values_list("kind", flat=True)) == [EventKind.CREATED]

    got = api.get(f"/colocations/v2{response['Location']}").json()
    assert got["workVisit"]["visitStartDateTime"] == body["details"]["visitStartDateTime"]
    assert got["workVisit"]["cages"] == body["details"]["cages"]
    assert [(line["cage"], line["cabinets"]) for line in got["details"]] == [("DC2:01:123456", ["DC2:01:123456:0101"])]


def test_the_seed_sample_verbatim_names_the_past_dates_and_the_unknown_user(orderer):
    response = Api(orderer).post(CREATE, SEED_CREATE_SAMPLE)
    assert response.status_code == 400
    props = error_props(response)
    invalid = props["EQ-2010010"]
    assert "details.visitStartDateTime" in invalid and "details.visitEndDateTime" in invalid
    assert "contacts[0].registeredUsers[0]" in invalid
    assert "details.visitors[0].registeredUsers[0]" in invalid
    assert "attachments[0].id" in invalid and "purchaseOrder.attachmentId" in invalid
    reasons = {i["property"]: i["reason"] for e in response.json() for i in e["additionalInfo"]}
    assert "past" in reasons["details.visitStartDateTime"]
    assert "john_doe1" in reasons["contacts[0].registeredUsers[0]"]
    assert not Order.objects.exists()


def test_missing_properties_are_eq_2016011_with_their_paths(orderer, make_body):
    body = make_body()
    del body["description"]  # optional (UPSTREAM_WIRE "Create"): not among the missing
    body["details"]["cages"] = [{"accountNumber": "1234567890"}]
    response = Api(orderer).post(CREATE, body)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2016011": ["details.cages[0].id"]}
    assert response.json()[0]["errorMessage"] == "One or more mandatory properties are missing."


def test_more_than_14_days_says_security_access(orderer, make_body):
    response = Api(orderer).post(CREATE, make_body(hours=15 * 24))
    assert response.status_code == 400
    entry = response.json()[0]
    assert entry["additionalInfo"][0]["property"] == "details.visitEndDateTime"
    assert "Security Access" in entry["additionalInfo"][0]["reason"]


def test_a_user_without_ordering_permission_gets_403_eq_2012006(viewer, make_body):
    response = Api(viewer).post(CREATE, make_body())
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012006": ["details.cages[0].id"]}


def test_permission_error_comes_first_with_the_other_errors_listed(viewer, make_body):
    response = Api(viewer).post(CREATE, make_body(description="short"))
    assert response.status_code == 403
    assert list(error_props(response)) == ["EQ-2012006", "EQ-2010010"]


def test_another_organization_s_cage_is_not_offered_to_globex(globex, make_body):
    response = Api(globex).post(CREATE, make_body())
    # To Globex, Acme's cage and Acme's orderer do not exist: invalid, not forbidden.
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["details.cages[0].id", "details.visitors[0].registeredUsers[0]"]}
    assert not Order.objects.exists()


def test_attachments_must_be_the_organization_s_and_at_most_five(orderer, globex, make_body):
    api = Api(orderer)
    mine = [api.upload(f"f{i}.png", PNG).json()["attachmentId"] for i in range(6)]
    theirs = Api(globex).upload("g.png", PNG).json()["attachmentId"]

    response = api.post(CREATE, make_body(attachments=[{"id": a} for a in mine]))
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["attachments"]}

    response = api.post(CREATE, make_body(attachments=[{"id": theirs}]))
    assert error_props(response) == {"EQ-2010010": ["attachments[0].id"]}
    response = api.post(
        CREATE, make_body(attachments=[{"id": "not-an-id"}], purchaseOrder={"type": "NEW", "attachmentId": "x"})
    )
    assert error_props(response) == {"EQ-2010010": ["attachments[0].id", "purchaseOrder.attachmentId"]}

    assert api.post(CREATE, make_body(attachments=[{"id": a} for a in mine[:5]])).status_code == 201
    response = api.post(CREATE, make_body(attachments=[{"id": mine[0]}]))  # already used by that order
    assert error_props(response) == {"EQ-2010010": ["attachments[0].id"]}


def test_an_organization_reviewing_every_order_gets_pending_review(orderer, make_body):
    orderer.organization.review_mode = "ALL"
    orderer.organization.save()
    response = Api(orderer).post(CREATE, make_body())
    assert response.status_code == 201
    assert response.json()["status"] == OrderStatus.PENDING_REVIEW


def _big_body(make_body, acme, n):
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    account = Account.objects.get(number="1234567890")
    dc2 = Cage.objects.get(cage_id="DC2:01:123456").ibx
    cages = ["DC2:01:123456"]
    members = []
    for i in range(n - 1):
        cage = Cage.objects.create(cage_id=f"DC2:01:9{i:05d}", ibx=dc2, organization=acme)
        cage.accounts.add(account)
        cages.append(cage.cage_id)
    catalogue_changed([acme.pk])  # as the locations import and the admin do after a catalogue change
    for i in range(n):
        members.append(User.objects.create(username=f"member{n}-{i}", organization=acme).username)
    body = make_body(start=start)
    body["details"]["cages"] = [{"id": c, "accountNumber": "1234567890"} for c in cages]
    body["details"]["visitors"] = [
        {
            "firstName": f"Visitor{i}",
            "lastName": "Person",
            "companyName": "Acme",
            "details": [{"type": "EMAIL", "value": f"v{i}@acme.example"}],
        }
        for i in range(n)
    ]
    body["contacts"] = [{"type": "NOTIFICATION", "registeredUsers": [m]} for m in members]
    return body


def test_create_costs_the_same_queries_for_1_and_20_cages_visitors_and_contacts(
    orderer, make_body, django_assert_num_queries
):
    api = Api(orderer)
    one, twenty = _big_body(make_body, orderer.organization, 1), _big_body(make_body, orderer.organization, 20)
    # Both with the cached ordering facts cold (a new catalogue version) and warm.
    counts = {}
    for state in ("cold", "warm"):
        if state == "cold":
            catalogue_changed([orderer.organization_id])
        with CaptureQueriesContext(connection) as small:
            assert api.post(CREATE, one).status_code == 201
        counts[state] = len(small.captured_queries)
        if state == "cold":
            catalogue_changed([orderer.organization_id])
        with django_assert_num_queries(counts[state]):
            response = api.post(CREATE, twenty)
        assert response.status_code == 201, response.json()
        order = Order.objects.get(order_id=response.json()["orderId"])
        assert (order.cages.count(), order.visitors.count(), order.contacts.count()) == (20, 20, 21)
    assert counts["warm"] < counts["cold"]


@pytest.mark.parametrize("description", ["absent", None, ""])
def test_an_order_without_a_description_is_created_with_an_empty_one(orderer, make_body, description):
    body = make_body()
    if description == "absent":
        del body["description"]
    else:
        body["description"] = description
    api = Api(orderer)
    response = api.post(CREATE, body)
    assert response.status_code == 201, response.json()
    assert Order.objects.get(order_id=response.json()["orderId"]).description == ""
    assert api.get(f"/colocations/v2{response['Location']}").json()["workVisit"]["description"] == ""


def test_a_description_given_is_still_10_to_4000_characters(orderer, make_body):
    response = Api(orderer).post(CREATE, make_body(description="short"))
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["description"]}


def _typed_in_visitor(*details):
    return {"firstName": "Bo", "lastName": "Vis", "companyName": "Acme", "details": list(details)}


def test_a_visitor_s_phone_must_be_mobile_eq_2010010_at_its_path(orderer, make_body):
    body = make_body()
    visitor = _typed_in_visitor({"type": "EMAIL", "value": "bo@example.com"}, {"type": "PHONE", "value": "+31 6 1234"})
    body["details"]["visitors"] = [visitor]
    response = Api(orderer).post(CREATE, body)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["details.visitors[0].details[1].type"]}
    reason = response.json()[0]["additionalInfo"][0]["reason"]
    assert "EMAIL or MOBILE" in reason and "as MOBILE" in reason
    assert not Order.objects.exists()

    visitor["details"][1]["type"] = "MOBILE"
    assert Api(orderer).post(CREATE, body).status_code == 201


def test_a_contact_typed_in_may_give_email_phone_and_mobile(orderer, make_body):
    body = make_body()
    details = [
        {"type": "EMAIL", "value": "ann@example.com"},
        {"type": "PHONE", "value": "+31 20 123 4567"},
        {"type": "MOBILE", "value": "+31 6 1234 5678"},
    ]
    body["contacts"] = [{"type": "TECHNICAL", "firstName": "Ann", "lastName": "Tech", "details": details}]
    response = Api(orderer).post(CREATE, body)
    assert response.status_code == 201, response.json()
    got = Api(orderer).get(f"/colocations/v2{response['Location']}").json()
    technical = next(c for c in got["contacts"] if c["type"] == "TECHNICAL")
    assert [d["type"] for d in technical["details"]] == ["EMAIL", "PHONE", "MOBILE"]


def test_a_visitor_typed_in_still_gives_at_most_two_details(orderer, make_body):
    body = make_body()
    email = {"type": "EMAIL", "value": "bo@example.com"}
    mobile = {"type": "MOBILE", "value": "+31 6 1234 5678"}
    body["details"]["visitors"] = [_typed_in_visitor(email, mobile, mobile)]
    response = Api(orderer).post(CREATE, body)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["details.visitors[0].details"]}
