"""The OpenAPI document is true to behaviour: Schemathesis on every operation, and a fuzz of the create body."""

import contextlib
import json
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_support import Api, media_in, token_for

# CI runs the same examples every time; local runs keep exploring new ones.
IN_CI = bool(os.environ.get("CI"))
# Token requests share the per-address failure counter: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("api-token")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Not negative_data_rejection: unknown query parameters are ignored, as most APIs do; invalid bodies are
# covered by the rules' own tests and the fuzz below.


def test_the_openapi_document_describes_every_endpoint(demo):
    response = Client().get("/colocations/v2/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations == {
        ("/oauth2/v1/token", "post"),
        ("/colocations/v2/orders/workVisits", "post"),
        ("/colocations/v2/orders/workVisits/{orderId}", "patch"),
        ("/colocations/v2/orders/{orderId}", "get"),
        ("/colocations/v2/orders", "get"),
        ("/colocations/v2/orders/{orderId}/cancel", "post"),
        ("/colocations/v2/locations", "get"),
        ("/v1/orders/workvisit/locations", "get"),
        ("/v1/retrieve-orders", "post"),
        ("/v1/attachments/file", "post"),
        ("/v1/attachments/{attachmentId}", "get"),
        ("/v1/attachments/{attachmentId}", "delete"),
        ("/v1/attachments/{attachmentId}/file", "get"),
        ("/colocations/v2/attachments/file", "post"),
        ("/colocations/v2/attachments/{attachmentId}/file", "get"),
        # Visit series, the portal's extension (workvisits/api/series.py).
        ("/colocations/v2/orders/workVisits/series", "post"),
        ("/colocations/v2/orders/workVisits/series/{seriesId}", "get"),
        ("/colocations/v2/orders/workVisits/series/{seriesId}", "patch"),
        ("/colocations/v2/orders/workVisits/series/{seriesId}/skip", "post"),
        ("/colocations/v2/orders/workVisits/series/{seriesId}/cancel", "post"),
        # The portal's extension: webhooks.
        ("/colocations/v2/webhooks", "get"),
        ("/colocations/v2/webhooks", "post"),
        ("/colocations/v2/webhooks/{endpointId}", "get"),
        ("/colocations/v2/webhooks/{endpointId}", "patch"),
        ("/colocations/v2/webhooks/{endpointId}", "delete"),
        ("/colocations/v2/webhooks/{endpointId}/deliveries", "get"),
        ("/colocations/v2/webhooks/{endpointId}/deliveries/{deliveryId}/resend", "post"),
    }
    deprecated = {(p, m) for p, item in document["paths"].items() for m, op in item.items() if op.get("deprecated")}
    assert deprecated == {
        ("/colocations/v2/attachments/file", "post"),
        ("/colocations/v2/attachments/{attachmentId}/file", "get"),
    }
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    codes = {code for c in document["components"]["schemas"].values() for code in c.get("enum", [])}
    assert {"EQ-2016011", "EQ-2010010", "EQ-2012006", "EQ-2012007", "EQ-2014005", "EQ-2019009"} <= codes
    create = document["paths"]["/colocations/v2/orders/workVisits"]["post"]["responses"]
    assert {"201", "400", "401", "403", "411", "413", "415"} <= set(create)
    assert "Content-Length header" in create["411"]["description"] and "EQ-2010012" in codes
    assert create["400"]["content"]["application/json"]["schema"]["type"] == "array"
    upload = document["paths"]["/v1/attachments/file"]["post"]["responses"]
    assert {"201", "400", "401", "403", "411", "413", "415"} <= set(upload)  # a chunked upload is 411 too


@pytest.mark.parametrize("page", ["/colocations/v2/docs", "/colocations/v2/redoc"])
def test_the_docs_pages_load_their_assets_from_us_not_a_cdn(demo, page):
    response = Client().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


@pytest.fixture
def api_schema(demo, settings, tmp_path):
    from portal.wsgi import application

    media_in(settings, tmp_path)
    with kept_connection():
        yield schemathesis.openapi.from_wsgi("/colocations/v2/openapi.json", application)


@contextlib.contextmanager
def kept_connection():
    """Calls of the WSGI app in-process keep the test's transaction open, as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def call(case, **kwargs):
    with kept_connection():
        return case.call(**kwargs)


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_keeps_to_its_schema(api_schema, orderer):
    """Schemathesis cases that fit the schema and cases that do not, on every operation: no 5xx, no surprise."""
    token = token_for(orderer)
    checked = []
    for operation in operations(api_schema):
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=IN_CI
        )
        @given(case=strategy)
        def check(case):
            headers = {} if case.headers and "Authorization" in case.headers else {"Authorization": f"Bearer {token}"}
            response = call(case, headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check()
        checked.append(operation.label)
    assert len(checked) == 27  # 15 of Work Visits v2 and around it, 5 of visit series, 7 of webhooks


def test_real_answers_of_every_kind_keep_to_the_schema(api_schema, orderer, make_body):
    """The generated cases mostly meet errors; these are the successful answers, with every optional part."""
    token = token_for(orderer)
    auth = {"Authorization": f"Bearer {token}"}
    api = Api(token=token)
    attachment = api.upload("plan.pdf", b"%PDF-1.4 plan").json()["attachmentId"]
    body = make_body(
        attachments=[{"id": attachment, "name": "plan"}],
        purchaseOrder={"type": "EXISTING", "number": 4711, "amount": "20", "startDate": "2026-01-01"},
        contacts=[
            {
                "type": "TECHNICAL",
                "firstName": "Tina",
                "lastName": "Tech",
                "details": [{"type": "PHONE", "value": "+1 555 0100"}, {"type": "EMAIL", "value": "t@fixers.example"}],
                "availability": "ANYTIME",
                "timezone": "America/New_York",
            }
        ],
    )
    body["details"]["visitors"] += [
        {
            "firstName": "Vic",
            "lastName": "Visitor",
            "companyName": "Fixers",
            "details": [{"type": "EMAIL", "value": "v@fixers.example"}],
        },
        {"firstName": "Val", "lastName": "Visitor", "companyName": "Fixers"},
    ]
    spare = api.upload_v1("letter.pdf", b"%PDF-1.4 letter").json()["attachmentId"]
    doomed = api.upload_v1("doomed.pdf", b"%PDF-1.4 doomed").json()["attachmentId"]
    cases = [
        ("POST", "/colocations/v2/orders/workVisits", {"body": body, "media_type": "application/json"}, 201),
    ]
    for method, path, kwargs, expected in cases:
        case = api_schema[path][method].Case(headers=auth, **kwargs)
        response = call(case)
        assert response.status_code == expected, response.text
        case.validate_response(response, checks=CHECKS)
    order_id = response.json()["orderId"]
    follow_ups = [
        ("GET", "/colocations/v2/orders/{orderId}", {"path_parameters": {"orderId": order_id}}, 200),
        ("GET", "/colocations/v2/orders", {"query": {"status": "QUEUED"}}, 200),
        ("GET", "/colocations/v2/locations", {"query": {"permissionCode": "WORK_VISIT"}}, 200),
        ("GET", "/v1/orders/workvisit/locations", {}, 200),
        (
            "POST",
            "/v1/retrieve-orders",
            {
                "body": {
                    "filters": {"ibxs": ["DC2"], "orderStatus": ["SUBMITTED"], "dateRange": "LAST_7_DAYS"},
                    "q": "WV-",
                    "sorts": [{"name": "createdAt", "direction": "DESC"}],
                    "page": {"number": 0, "size": 5},
                },
                "media_type": "application/json",
            },
            200,
        ),
        ("GET", "/v1/attachments/{attachmentId}", {"path_parameters": {"attachmentId": attachment}}, 200),
        ("GET", "/v1/attachments/{attachmentId}/file", {"path_parameters": {"attachmentId": attachment}}, 200),
        ("DELETE", "/v1/attachments/{attachmentId}", {"path_parameters": {"attachmentId": doomed}}, 204),
        ("DELETE", "/v1/attachments/{attachmentId}", {"path_parameters": {"attachmentId": attachment}}, 409),
        (
            "PATCH",
            "/colocations/v2/orders/workVisits/{orderId}",
            {
                "path_parameters": {"orderId": order_id},
                "body": {
                    "details": {"openCabinet": True},
                    "contacts": [
                        {
                            "registeredUsers": ["viewer"],
                            "type": "NOTIFICATION",
                            "availability": "ANYTIME",
                            "timezone": "Europe/Amsterdam",
                        }
                    ],
                },
            },
            202,
        ),
        (
            "POST",
            "/colocations/v2/orders/{orderId}/cancel",
            {
                "path_parameters": {"orderId": order_id},
                "body": {"reason": "Plans changed", "attachments": [{"id": spare}], "lineIds": [f"{order_id}-1"]},
            },
            202,
        ),
        (
            "GET",
            "/colocations/v2/attachments/{attachmentId}/file",
            {"path_parameters": {"attachmentId": attachment}},
            200,
        ),
    ]
    for method, path, kwargs, expected in follow_ups:
        case = api_schema[path][method].Case(headers=auth, **kwargs)
        response = call(case)
        assert response.status_code == expected, response.text
        case.validate_response(response, checks=CHECKS)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@st.composite
def create_bodies(draw):
    """A valid body with some of its properties replaced by anything JSON can say, or dropped."""
    from tests.conftest import visit_body

    body = visit_body()
    targets = [
        (body, "description"),
        (body, "customerReferenceId"),
        (body, "contacts"),
        (body, "purchaseOrder"),
        (body, "attachments"),
        (body, "details"),
        (body["details"], "cages"),
        (body["details"], "visitors"),
        (body["details"], "visitStartDateTime"),
        (body["details"], "visitEndDateTime"),
        (body["details"], "openCabinet"),
        (body["details"]["cages"][0], "id"),
        (body["details"]["cages"][0], "accountNumber"),
        (body["details"]["visitors"][0], "registeredUsers"),
    ]
    for index in draw(st.lists(st.integers(0, len(targets) - 1), min_size=1, max_size=4, unique=True)):
        parent, key = targets[index]
        if draw(st.booleans()):
            parent[key] = draw(JSON)
        else:
            parent.pop(key, None)
    return draw(st.one_of(st.just(body), JSON))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=IN_CI)
@given(body=create_bodies())
def test_fuzzed_create_bodies_never_cause_a_5xx(orderer, body):
    if not hasattr(orderer, "api"):
        orderer.api = Api(orderer)
    response = orderer.api.post("/colocations/v2/orders/workVisits", json.dumps(body))  # strings too, as JSON
    assert response.status_code in (201, 400, 403), response.content
    if response.status_code != 201:
        for entry in response.json():
            assert entry["additionalInfo"] and all(i["property"] and i["reason"] for i in entry["additionalInfo"])
