"""The wire as the upstream speaks it: status mapping, Order History, Attachments v1, cancel with lines
and attachments, JSON errors everywhere under the API's prefixes, 405 before 415, a readable 413."""

import copy
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api_support import Api, StrictErrorKeys, add_order_copies, error_props, media_in
from workvisits import services
from workvisits.choices import EventKind, OrderStatus
from workvisits.models import Attachment, Cage, Order, OrderingGrant

RETRIEVE = "/v1/retrieve-orders"
PDF = b"%PDF-1.4 a letter"


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    media_in(settings, tmp_path)


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


EXPECTED = {
    OrderStatus.PENDING_REVIEW: ("RECEIVED", "ENTERED"),
    OrderStatus.QUEUED: ("RECEIVED", "ENTERED"),
    OrderStatus.SUBMITTED: ("RECEIVED", "SUBMITTED"),
    OrderStatus.RECEIVED: ("RECEIVED", "SUBMITTED"),
    OrderStatus.IN_PROGRESS: ("IN_PROGRESS", "IN_PROGRESS"),
    OrderStatus.ON_HOLD: ("ON_HOLD", "IN_PROGRESS"),
    OrderStatus.CLOSED: ("CLOSED", "CLOSED"),
    OrderStatus.CANCELLED: ("CANCELLED", "CANCELLED"),
    OrderStatus.REJECTED: ("CANCELLED", "CANCELLED"),
    OrderStatus.FAILED: ("ON_HOLD", "ENTERED"),
    OrderStatus.NEEDS_CHECK: ("ON_HOLD", "ENTERED"),
}


def test_every_portal_status_has_its_upstream_and_order_history_status():
    assert set(EXPECTED) == set(OrderStatus)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_the_status_reads_on_the_upstream_s_enum_with_the_portal_s_beside_it(orderer, order, status):
    Order.objects.filter(pk=order.pk).update(status=status)
    api = Api(orderer)
    body = api.get(f"/colocations/v2/orders/{order.order_id}").json()
    upstream, history = EXPECTED[status]
    assert (body["status"], body["portalStatus"]) == (upstream, status)
    assert {line["status"] for line in body["details"]} == {upstream}
    assert (body["closedDateTime"] is not None) is (upstream in ("CLOSED", "CANCELLED"))
    listed = api.post(RETRIEVE, {}).json()["content"]
    assert [(o["orderNumber"], o["orderStatus"]) for o in listed] == [(order.order_id, history)]
    found = api.post(RETRIEVE, {"filters": {"orderStatus": [history]}}).json()["page"]["totalElements"]
    assert found == 1


def test_retrieve_orders_answers_order_history_s_shape(orderer, users, make_body):
    body = make_body(customerReferenceId="PO-99")
    order = services.order_create(user=orderer, data=body)
    response = Api(orderer).post(RETRIEVE, {"page": {"number": 0, "size": 20}})
    assert response.status_code == 200
    assert response.json() == {
        "content": [
            {
                "orderNumber": order.order_id,
                "type": ["WORK_VISIT"],
                "orderStatus": "ENTERED",
                "createdAt": response.json()["content"][0]["createdAt"],
                "account": {"number": "1234567890", "name": "Acme Ashburn"},
                "orderingContact": {"name": orderer.display_name(), "email": orderer.email}
                | ({"phone": orderer.phone} if orderer.phone else {}),
                "ibx": ["DC2"],
                "customerReferenceNumbers": ["PO-99"],
                "links": [{"rel": "orderFullDetails", "href": f"/colocations/v2/orders/{order.order_id}"}],
            }
        ],
        "links": [{"rel": "self", "href": "/v1/retrieve-orders?page=0"}],
        "page": {"size": 20, "totalElements": 1, "totalPages": 1, "number": 0},
    }
    assert Api(users["globex"]).post(RETRIEVE, {}).json()["page"]["totalElements"] == 0


def test_retrieve_orders_filters_searches_sorts_and_pages(orderer, make_body):
    dc2 = [services.order_create(user=orderer, data=make_body(customerReferenceId=f"REF-{i}")) for i in range(3)]
    am1_body = make_body(customerReferenceId="AMS-1")
    am1_body["details"]["cages"] = [{"id": "AM1:02:200100"}]
    am1 = services.order_create(user=orderer, data=am1_body)
    services.order_cancel(user=orderer, order_id=dc2[0].order_id, reason="Plans changed")
    api = Api(orderer)

    def numbers(search):
        response = api.post(RETRIEVE, search)
        assert response.status_code == 200, response.json()
        return [o["orderNumber"] for o in response.json()["content"]]

    newest_first = [am1.order_id, dc2[2].order_id, dc2[1].order_id, dc2[0].order_id]
    assert numbers({}) == newest_first
    assert numbers({"sorts": [{"name": "createdAt", "direction": "ASC"}]}) == newest_first[::-1]
    assert numbers({"filters": {"ibxs": ["am1"]}}) == [am1.order_id]
    assert numbers({"filters": {"orderStatus": ["CANCELLED"]}}) == [dc2[0].order_id]
    assert numbers({"filters": {"orderStatus": ["QUEUED"]}}) == newest_first[:3]  # a portal status works too
    assert numbers({"filters": {"productTypes": ["CROSS_CONNECT"]}}) == []
    assert numbers({"filters": {"productTypes": ["WORK_VISIT"], "dateRange": "LAST_7_DAYS"}}) == newest_first
    assert numbers({"q": "ref-1"}) == [dc2[1].order_id]
    assert numbers({"q": am1.order_id.lower()}) == [am1.order_id]
    assert numbers({"q": "", "source": ""}) == numbers({"q": None, "source": None}) == newest_first  # no search
    nulls = {"filters": {"ibxs": None, "orderStatus": None, "dateRange": None}, "sorts": None, "page": None}
    assert numbers(nulls) == numbers({"filters": None}) == newest_first  # null is absent, as a client may send it
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert numbers({"filters": {"fromDate": tomorrow}}) == []
    assert numbers({"filters": {"toDate": timezone.now().date().isoformat()}}) == newest_first
    page = api.post(RETRIEVE, {"page": {"number": 1, "size": 3}}).json()
    assert [o["orderNumber"] for o in page["content"]] == [dc2[0].order_id]
    assert page["page"] == {"size": 3, "totalElements": 4, "totalPages": 2, "number": 1}
    assert [link["rel"] for link in page["links"]] == ["self", "previous"]


@pytest.mark.parametrize(
    "search, prop",
    [
        ({"page": {"number": -1}}, "page.number"),
        ({"page": {"size": 1000}}, "page.size"),
        ({"sorts": [{"name": "colour"}]}, "sorts[0].name"),
        ({"sorts": [{"name": "ibx", "direction": "UP"}]}, "sorts[0].direction"),
        ({"filters": {"orderStatus": ["NOPE"]}}, "filters.orderStatus[0]"),
        ({"filters": {"dateRange": "FOREVER"}}, "filters.dateRange"),
        ({"filters": {"fromDate": "yesterday"}}, "filters.fromDate"),
        ({"filters": "DC2"}, "filters"),
        ([1], "$"),
    ],
)
def test_bad_searches_are_400_naming_the_property(orderer, search, prop):
    response = Api(orderer).post(RETRIEVE, search)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": [prop]}


def test_retrieve_orders_costs_the_same_queries_for_5_and_500_orders(orderer, make_body, django_assert_num_queries):
    api = Api(orderer)
    template = services.order_create(user=orderer, data=make_body())

    search = {"page": {"size": 100}, "sorts": [{"name": "orderNumber", "direction": "ASC"}]}
    add_order_copies(template, 4)
    with CaptureQueriesContext(connection) as five:
        assert len(api.post(RETRIEVE, search).json()["content"]) == 5
    add_order_copies(template, 495)
    with django_assert_num_queries(len(five.captured_queries)):
        response = api.post(RETRIEVE, search)
    assert len(response.json()["content"]) == 100 and response.json()["page"]["totalElements"] == 500


def test_attachments_v1_upload_describe_download_and_delete(
    orderer, globex, make_body, django_capture_on_commit_callbacks
):
    api = Api(orderer)
    response = api.upload_v1("Letter.PDF", PDF)
    assert response.status_code == 201
    uploaded = response.json()
    assert set(uploaded) == {
        "attachmentId",
        "attachmentName",
        "attachmentType",
        "attachmentSize",
        "createdDate",
        "createdBy",
        "lastUpdatedDate",
    }
    assert (uploaded["attachmentName"], uploaded["attachmentType"], uploaded["attachmentSize"]) == (
        "Letter.PDF",
        "pdf",
        len(PDF),
    )
    assert uploaded["createdBy"] == "orderer" and uploaded["createdDate"].endswith("Z")
    url = f"/v1/attachments/{uploaded['attachmentId']}"
    assert api.get(url).json() == uploaded
    download = api.get(f"{url}/file")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert Api(globex).get(url).status_code == 404
    assert Api(globex).delete(url).status_code == 404

    # The deprecated path takes either part name and answers the same shape.
    legacy = api.upload("old.pdf", PDF, field="uploadFile")
    assert legacy.status_code == 201 and set(legacy.json()) == set(uploaded)
    assert api.upload("old.pdf", PDF).status_code == 201
    missing = api.upload("x.pdf", PDF, path="/v1/attachments/file", field="file")  # the old part name
    assert error_props(missing) == {"EQ-2016011": ["uploadFile"]}

    # An upload an order uses stays with it; an unused one goes, file and all.
    services.order_create(user=orderer, data=make_body(attachments=[{"id": uploaded["attachmentId"]}]))
    in_use = api.delete(url)
    assert in_use.status_code == 409 and error_props(in_use) == {"EQ-2019009": ["attachmentId"]}
    spare = Attachment.objects.get(pk=legacy.json()["attachmentId"])
    stored = spare.file.path
    with django_capture_on_commit_callbacks(execute=True):
        deleted = api.delete(f"/v1/attachments/{spare.id}")
    assert deleted.status_code == 204
    assert not Attachment.objects.filter(pk=spare.id).exists() and not os.path.exists(stored)
    assert api.get(f"/v1/attachments/{spare.id}").status_code == 404


def test_an_unused_upload_is_deleted_by_its_uploader_or_one_who_sees_all_orders(users):
    technician, viewer = users["technician"], users["viewer"]  # a member who may order; one who sees every order
    OrderingGrant.objects.create(user=technician, cage=Cage.objects.get(cage_id="DC2:01:123456"))
    mine = Api(technician).upload_v1("mine.pdf", PDF).json()["attachmentId"]
    theirs = Api(users["orderer"]).upload_v1("theirs.pdf", PDF).json()["attachmentId"]

    refused = Api(technician).delete(f"/v1/attachments/{theirs}")
    assert refused.status_code == 403 and error_props(refused) == {"EQ-2012007": ["attachmentId"]}
    assert "uploaded this file" in refused.json()[0]["additionalInfo"][0]["reason"]
    assert Attachment.objects.filter(pk=theirs).exists()
    assert Api(technician).get(f"/v1/attachments/{theirs}").status_code == 200  # still readable, as before

    assert Api(technician).delete(f"/v1/attachments/{mine}").status_code == 204
    assert Api(viewer).delete(f"/v1/attachments/{theirs}").status_code == 204
    assert not Attachment.objects.filter(pk__in=[mine, theirs]).exists()


def test_a_purchase_order_s_document_is_in_use_too(orderer, make_body):
    api = Api(orderer)
    po_doc = api.upload_v1("po.pdf", PDF).json()["attachmentId"]
    order = services.order_create(user=orderer, data=make_body(purchaseOrder={"type": "NEW", "attachmentId": po_doc}))
    assert str(order.po_attachment_id) == po_doc
    assert api.delete(f"/v1/attachments/{po_doc}").status_code == 409


@pytest.mark.parametrize("value", [12345, [], True, {"day": "2026-05-22"}])
def test_a_purchase_order_date_that_is_not_a_string_is_refused_not_dropped(orderer, make_body, value):
    api = Api(orderer)
    body = make_body(purchaseOrder={"type": "NEW", "amount": "100", "startDate": value, "endDate": "2027-05-22"})
    response = api.post("/colocations/v2/orders/workVisits", body)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["purchaseOrder.startDate"]}
    assert "YYYY-MM-DD" in response.json()[0]["additionalInfo"][0]["reason"]
    assert not Order.objects.exists()


def test_cancel_with_attachments_and_all_line_ids(orderer, order):
    api = Api(orderer)
    letter = api.upload_v1("letter.pdf", PDF).json()["attachmentId"]
    url = f"/colocations/v2/orders/{order.order_id}/cancel"
    partial_order = api.post(url, {"reason": "Plans changed", "lineIds": ["WV-NOPE-1"]})
    assert partial_order.status_code == 400 and error_props(partial_order) == {"EQ-2010010": ["lineIds[0]"]}
    unknown = api.post(url, {"reason": "Plans changed", "attachments": [{"id": "not-ours"}]})
    assert error_props(unknown) == {"EQ-2010010": ["attachments[0].id"]}
    assert Order.objects.get(pk=order.pk).status == OrderStatus.QUEUED

    response = api.post(
        url,
        {
            "reason": "Plans changed",
            "attachments": [{"id": letter, "name": "letter"}],
            "lineIds": [f"{order.order_id}-1"],
        },
    )
    assert response.status_code == 202, response.json()
    assert response.json()["portalStatus"] == OrderStatus.CANCELLED
    assert [a["id"] for a in response.json()["workVisit"]["attachments"]] == [letter]
    event = order.events.get(kind=EventKind.CANCEL_REQUESTED)
    assert event.data["attachments"] == [letter]


def test_non_registered_technical_contact_and_visitor_as_the_sdk_sends_them(orderer, make_body):
    body = make_body(
        contacts=[
            {
                "firstName": "Tina",
                "lastName": "Tech",
                "type": "TECHNICAL",
                "details": [{"type": "EMAIL", "value": "tina@fixers.example"}],
            }
        ]
    )
    body["details"]["visitors"] = [{"firstName": "Vic", "lastName": "Visitor", "companyName": "Fixers"}]
    api = Api(orderer)
    created = api.post("/colocations/v2/orders/workVisits", body)
    assert created.status_code == 201, created.json()
    got = api.get(f"/colocations/v2{created['Location']}").json()
    assert {
        "type": "TECHNICAL",
        "firstName": "Tina",
        "lastName": "Tech",
        "details": [{"type": "EMAIL", "value": "tina@fixers.example"}],
        "availability": "WORK_HOURS",
        "timezone": "America/New_York",
    } in got["contacts"]
    assert got["workVisit"]["visitors"] == [{"firstName": "Vic", "lastName": "Visitor", "companyName": "Fixers"}]
    with_company = copy.deepcopy(body)
    with_company["contacts"][0]["companyName"] = "Fixers"
    assert api.post("/colocations/v2/orders/workVisits", with_company).status_code == 201


@pytest.mark.parametrize(
    "path",
    ["/v1/nothing", "/v1/attachments/not-a-uuid", "/v1/orders/workvisit", "/oauth2/v2/token", "/colocations/x"],
)
def test_unknown_api_paths_are_json_404s(demo, path):
    for method in ("get", "post", "delete"):
        response = getattr(Client(), method)(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert error_props(response) == {"EQ-2014004": ["path"]}


@pytest.mark.parametrize(
    "method, path",
    [
        ("put", "/colocations/v2/orders/workVisits"),
        ("delete", "/v1/retrieve-orders"),
        ("patch", "/v1/attachments/file"),
        ("put", "/oauth2/v1/token"),
    ],
)
def test_a_wrong_method_is_405_before_the_body_is_looked_at(orderer, method, path):
    api = Api(orderer)
    response = getattr(api.client, method)(
        path, b"not json at all", content_type="text/plain", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 405
    assert error_props(response) == {"EQ-2010005": ["method"]}


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/colocations/v2/openapi.json"),
        ("delete", "/colocations/v2/openapi.json"),
        ("put", "/colocations/v2/openapi.json"),
        ("post", "/colocations/v2/docs"),
        ("post", "/colocations/v2/redoc"),
        ("delete", "/colocations/v2/redoc"),
    ],
)
def test_the_document_and_its_pages_answer_a_wrong_method_with_the_api_s_405(demo, method, path):
    response = getattr(Client(enforce_csrf_checks=True), method)(path, b"{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert error_props(response) == {"EQ-2010005": ["method"]}
    assert "GET" in response["Allow"]
    assert Client().get(path).status_code == 200


def test_the_caller_s_correlation_id_is_kept_whatever_its_header_case(orderer):
    api = Api(orderer)
    for header in ("X-Correlation-Id", "x-correlation-id"):
        response = api.post(RETRIEVE, {"page": {"number": -1}}, headers={header: "3f2c-uuid-like-7"})
        assert response["X-Correlation-ID"] == "3f2c-uuid-like-7"
        assert response.json()[0]["correlationId"] == "3f2c-uuid-like-7"


def test_the_suite_checks_error_keys_of_every_api_error(orderer):
    before = StrictErrorKeys.checked
    Api(orderer).post(RETRIEVE, [1])
    assert StrictErrorKeys.checked == before + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_server():
    """The portal under gunicorn, as docker-compose runs it (one sync worker)."""
    port = _free_port()
    env = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1"}
    process = subprocess.Popen(  # noqa: S603 (our own server)
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "portal.wsgi:application"]
        + ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=30)


def test_an_oversized_body_sent_whole_gets_a_readable_413(production_server):
    """A client that sends all of its body before reading (as most do) reads the 413, not a reset."""
    size = 8 * 1024 * 1024  # far beyond the token endpoint's 16 KB, well inside what is read and thrown away
    with socket.create_connection(("127.0.0.1", production_server), timeout=60) as sock:
        sock.sendall(
            b"POST /oauth2/v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\nX-Correlation-Id: big-body-1\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"]"):
                break
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    entries = json.loads(body)
    assert [e["errorCode"] for e in entries] == ["EQ-2010013"] and entries[0]["correlationId"] == "big-body-1"


def test_reading_an_order_costs_the_same_queries_for_1_and_20_cages_visitors_and_contacts(
    orderer, make_body, django_assert_num_queries
):
    from tests.test_api_create import _big_body

    api = Api(orderer)
    small = services.order_create(user=orderer, data=_big_body(make_body, orderer.organization, 1))
    big = services.order_create(user=orderer, data=_big_body(make_body, orderer.organization, 20))
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(f"/colocations/v2/orders/{small.order_id}").json()["details"]) == 1
    with django_assert_num_queries(len(one.captured_queries)):
        body = api.get(f"/colocations/v2/orders/{big.order_id}").json()
    assert (len(body["details"]), len(body["workVisit"]["visitors"]), len(body["contacts"])) == (20, 20, 22)
