"""The sandbox upstream speaks Work Visits v2 over real HTTP: the portal's rules, 1-NNNNNNNN ids,
statuses moving with time, lookup by reference, and faults on demand."""

import re
import time

import httpx
import pytest

from tests.pipeline_harness import Sandbox


@pytest.fixture
def sandbox():
    server = Sandbox(step_seconds=0.3)
    yield server
    server.stop()


@pytest.fixture
def api(sandbox):
    token = httpx.post(
        f"{sandbox.url}/oauth2/v1/token",
        json={"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"},
    ).json()
    assert token["token_type"] == "Bearer" and int(token["token_timeout"]) > 0
    return httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {token['access_token']}"})


def test_token_required(sandbox):
    response = httpx.get(f"{sandbox.url}/colocations/v2/orders/1-10000001")
    assert response.status_code == 401 and response.json()[0]["errorCode"]
    bad = httpx.post(
        f"{sandbox.url}/oauth2/v1/token",
        json={"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "no"},
    )
    assert bad.status_code == 401


def test_create_read_and_status_over_time(api, make_body):
    body = make_body(customerReferenceId="REF-1")
    created = api.post("/colocations/v2/orders/workVisits", json=body)
    assert created.status_code == 201
    order_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert re.fullmatch(r"1-\d{8}", order_id) and created.headers["X-Correlation-ID"]
    order = api.get(f"/colocations/v2/orders/{order_id}").json()
    assert order["status"] == "RECEIVED" and order["customerReferenceId"] == "REF-1" and order["modifiable"]
    assert [
        o["orderId"] for o in api.get("/colocations/v2/orders", params={"customerReferenceId": "REF-1"}).json()["data"]
    ] == [order_id]
    assert api.get("/colocations/v2/orders", params={"customerReferenceId": "other"}).json()["data"] == []
    time.sleep(0.35)
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "IN_PROGRESS"
    time.sleep(0.35)
    closed = api.get(f"/colocations/v2/orders/{order_id}").json()
    assert closed["status"] == "CLOSED" and not closed["cancellable"]
    assert api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Too late now."}).status_code == 409


def test_validation_uses_the_portal_rules(api, make_body):
    body = make_body(description="short")
    body["details"]["visitEndDateTime"] = "2020-01-01T00:00:00Z"
    del body["details"]["visitors"]
    response = api.post("/colocations/v2/orders/workVisits", json=body)
    assert response.status_code == 400
    errors = response.json()
    properties = {i["property"] for e in errors for i in e["additionalInfo"]}
    assert {"description", "details.visitEndDateTime", "details.visitors"} <= properties
    assert {e["errorCode"] for e in errors} == {"EQ-2010010", "EQ-2016011"}
    assert all(e["correlationId"] == response.headers["X-Correlation-ID"] for e in errors)


def test_modify_and_cancel(api, make_body):
    order_id = api.post("/colocations/v2/orders/workVisits", json=make_body()).headers["Location"].rsplit("/", 1)[-1]
    changed = api.patch(f"/colocations/v2/orders/workVisits/{order_id}", json={"details": {"openCabinet": True}})
    assert changed.status_code == 202
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["details"]["openCabinet"] is True
    too_many = api.patch(
        f"/colocations/v2/orders/workVisits/{order_id}",
        json={
            "contacts": [
                {"type": "NOTIFICATION", "registeredUsers": ["a"]},
                {"type": "NOTIFICATION", "registeredUsers": ["b"]},
            ]
        },
    )
    assert too_many.status_code == 400
    assert api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "no"}).status_code == 400
    assert api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Not needed."}).status_code == 202
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "CANCELLED"
    assert (
        api.patch(f"/colocations/v2/orders/workVisits/{order_id}", json={"details": {"openCabinet": False}}).status_code
        == 409
    )


def test_faults_on_demand(sandbox, api, make_body):
    sandbox.fault("429", count=2, match="/colocations/v2/locations", retryAfter=3)
    for _ in range(2):
        limited = api.get("/colocations/v2/locations")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert api.get("/colocations/v2/locations").status_code == 200

    sandbox.fault("slow", count=1, match="GET /colocations/v2/locations", delay=0.5)
    started = time.monotonic()
    assert api.get("/colocations/v2/locations").status_code == 200
    assert time.monotonic() - started >= 0.5

    sandbox.fault("drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/colocations/v2/orders/workVisits", json=make_body())
    assert len(sandbox.orders()) == 1  # it acted before dropping the connection

    sandbox.fault("reject", count=1)
    rejected = api.post("/colocations/v2/orders/workVisits", json=make_body())
    assert rejected.status_code == 400 and rejected.json()[0]["additionalInfo"]
    sandbox.fault("503", count=1)
    assert api.post("/colocations/v2/orders/workVisits", json=make_body()).status_code == 503
    assert api.post("/colocations/v2/orders/workVisits", json=make_body()).status_code == 201
