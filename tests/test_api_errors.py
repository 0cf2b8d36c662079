"""Bad input of every kind is a 4xx in the array format with the correlation id, never a 500."""

import json
import logging

import pytest
from django.test import Client

from tests.api_support import Api, error_props

CREATE = "/colocations/v2/orders/workVisits"


@pytest.fixture
def api(orderer):
    return Api(orderer)


def raw_post(api, body: bytes | str, content_type="application/json", path=CREATE, **headers):
    return api.client.post(
        path, body, content_type=content_type, headers={"Authorization": f"Bearer {api.token}", **headers}
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"description": "x",}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"description": NaN}',
        b'{"a": 1' + b"0" * 5000 + b"}",
    ],
    ids=["truncated", "text", "trailing-comma", "not-utf8", "deeply-nested", "nan", "huge-int"],
)
def test_malformed_json_is_400_eq_2010011(api, body):
    response = raw_post(api, body)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010011": ["body"]}


@pytest.mark.parametrize(
    "body, code, prop",
    [
        (None, "EQ-2010010", "$"),
        ([], "EQ-2010010", "$"),
        ("a string", "EQ-2010010", "$"),
        (12, "EQ-2010010", "$"),
        ({"description": None, "details": None}, "EQ-2016011", "details"),  # a null description is none
        ({"description": 10**300}, "EQ-2010010", "description"),
        ({"description": ["a"] * 3}, "EQ-2010010", "description"),
        ({"description": {"x": 1}}, "EQ-2010010", "description"),
        ({"description": True}, "EQ-2010010", "description"),
        ({"details": {"cages": "DC2"}}, "EQ-2010010", "details.cages"),
        ({"details": {"cages": [None]}}, "EQ-2010010", "details.cages[0]"),
        (
            {"details": {"visitors": [{"registeredUsers": [None, 1]}]}},
            "EQ-2010010",
            "details.visitors[0].registeredUsers[0]",
        ),
        ({"details": {"visitStartDateTime": 1.5e308}}, "EQ-2010010", "details.visitStartDateTime"),
        ({"details": {"visitStartDateTime": "9" * 10000}}, "EQ-2010010", "details.visitStartDateTime"),
        ({"unknownField": 1}, "EQ-2010010", "unknownField"),
        ({"description": "Ünïcödé wörk ✓ 😀 " * 10}, "EQ-2016011", "details"),
        ({"description": "nul \u0000 inside the text"}, "EQ-2010010", "description"),
        ({"description": "lone \ud800 surrogate here"}, "EQ-2010010", "description"),
        ({"bad\u0000key": 1}, "EQ-2010010", '$["bad\\u0000key"]'),
        # Deeper down, in a list: the whole path to the bad name or text.
        ({"details": {"visitors": [{"bad\ud800": 1}]}}, "EQ-2010010", 'details.visitors[0]["bad\\ud800"]'),
        (
            {"details": {"visitors": [{"registeredUsers": ["ok", "nul\u0000"]}]}},
            "EQ-2010010",
            "details.visitors[0].registeredUsers[1]",
        ),
        ({"purchaseOrder": {"type": "EXISTING", "number": 10**200}}, "EQ-2010010", "purchaseOrder.number"),
    ],
)
def test_wrong_types_nulls_huge_values_and_odd_text_are_400_with_the_path(api, body, code, prop):
    response = raw_post(api, json.dumps(body))
    assert response.status_code == 400, response.content
    assert prop in error_props(response).get(code, []), response.json()


def test_deep_but_parseable_nesting_is_refused_with_a_path(api):
    body = {"details": {"cages": [{"id": {"a": {}}}]}}
    node = body["details"]["cages"][0]["id"]["a"]
    for _ in range(50):
        node["a"] = {}
        node = node["a"]
    response = raw_post(api, json.dumps(body))
    assert response.status_code == 400
    assert any(p.startswith("details.cages[0].id") for p in sum(error_props(response).values(), []))


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)
def test_a_body_that_is_not_json_is_415(api, content_type):
    response = raw_post(api, "description=hello", content_type=content_type)
    assert response.status_code == 415
    assert error_props(response) == {"EQ-2010015": ["Content-Type"]}


def test_json_with_a_charset_is_fine(api, make_body):
    response = raw_post(api, json.dumps(make_body()), content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_a_huge_json_body_is_413_without_being_parsed(api):
    response = raw_post(api, b'{"description": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert response.status_code == 413
    assert error_props(response) == {"EQ-2010013": ["body"]}


def test_method_not_allowed_and_unknown_paths_answer_in_the_array_format(api):
    response = api.client.delete(CREATE, headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 405
    assert error_props(response) == {"EQ-2010005": ["method"]}
    # (/colocations/v2/orders/a b is an order's path: an unknown order, tests/test_api_orders.py)
    for path in ("/colocations/v2/nothing", "/oauth2/v1/other", "/colocations/v2/x\ny"):
        response = Client().get(path)
        assert response.status_code == 404
        assert error_props(response) == {"EQ-2014004": ["path"]}


def test_a_disallowed_host_header_is_400_in_the_array_format_and_a_page_elsewhere(api):
    response = api.client.post(CREATE, "{}", content_type="application/json", headers={"Host": "D[v4u\t\tA"})
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["Host"]}  # not "not well-formed JSON"
    page = Client().get("/", headers={"Host": "D[v4u\t\tA"})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "params, prop",
    [
        ({"status": "NOPE"}, "status"),
        ({"status": "QUEUED,\u0000"}, "status"),
        ({"ibx": "DC2\u0000"}, "ibx"),
        ({"ibx": "x" * 100}, "ibx"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "9" * 50}, "page"),
        ({"page": "١"}, "page"),
        ({"size": "1000"}, "size"),
        ({"visitStartFrom": "yesterday"}, "visitStartFrom"),
        ({"visitStartTo": "2026-13-45"}, "visitStartTo"),
    ],
)
def test_bad_list_filters_are_400_naming_the_parameter(api, params, prop):
    response = api.get("/colocations/v2/orders", params)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": [prop]}


def test_the_correlation_id_is_echoed_in_the_header_the_body_and_the_logs(api, caplog):
    caplog.set_level(logging.INFO)
    response = api.client.post(
        CREATE,
        b"{",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}", "X-Correlation-ID": "my-trace-42"},
    )
    assert response["X-Correlation-ID"] == "my-trace-42"
    assert response.json()[0]["correlationId"] == "my-trace-42"
    ok = api.get("/colocations/v2/locations", headers={"X-Correlation-ID": "trace-ok-1"})
    assert ok["X-Correlation-ID"] == "trace-ok-1"
    warnings = [r for r in caplog.records if "Bad Request" in r.getMessage()]
    assert warnings and all(getattr(r, "correlation_id", None) == "my-trace-42" for r in warnings)


@pytest.mark.parametrize(
    "sent, kept",
    [
        ("<script>", "<script>"),  # printable ASCII: the caller's, as CONTRACT "Errors" says
        ("order 42 / try #3 {a:b}", "order 42 / try #3 {a:b}"),
        ("  padded-id  ", "padded-id"),
        ("x" * 255, "x" * 255),
    ],
)
def test_a_caller_s_printable_correlation_id_is_kept_trimmed(api, sent, kept):
    response = api.client.post(
        CREATE,
        b"{",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}", "X-Correlation-ID": sent},
    )
    assert response["X-Correlation-ID"] == kept
    assert response.json()[0]["correlationId"] == kept


@pytest.mark.parametrize("sent", ["x" * 256, "tab\there", "caf\u00e9", "   "])
def test_a_correlation_id_too_long_or_not_printable_ascii_is_replaced(api, sent):
    response = api.get("/colocations/v2/locations", headers={"X-Correlation-ID": sent})
    assert response["X-Correlation-ID"] != sent.strip() and len(response["X-Correlation-ID"]) == 32
