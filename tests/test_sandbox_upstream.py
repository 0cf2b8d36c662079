"""The sandbox upstream as a real process speaks UPSTREAM_WIRE.md: token, create with Location, its own
strict validation, Orders v2 reads moving with its clock, modify and cancel, Order History search,
locations v1/v2, attachments v1, strict error arrays and every fault kind."""

import ast
import copy
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

pytest.register_assert_rewrite("tests.sandbox_support")
pytest_plugins = ["tests.sandbox_support"]  # the sandbox_process fixture

from tests.sandbox_support import (  # noqa: E402 - after the rewrite is registered
    REPO,
    TLS,
    WORK_VISITS,
    SandboxProcess,
    visit_body,
)

ERROR_KEYS = {"errorCode", "errorMessage", "correlationId", "additionalInfo"}
ORDER_ID = re.compile(r"/orders/(1-\d{8})")


def assert_strict_errors(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and body
    for entry in body:
        assert set(entry) == ERROR_KEYS, entry
        assert all(set(info) <= {"property", "reason", "value"} and {"property", "reason"} <= set(info)
                   for info in entry["additionalInfo"]), entry
    return body


def properties(body, code=None):
    return {i["property"] for e in body if code in (None, e["errorCode"]) for i in e["additionalInfo"]}


@pytest.fixture
def api(sandbox_process):
    with sandbox_process.client() as client:
        yield client


def create(api, body=None, **headers):
    return api.post(WORK_VISITS, json=visit_body() if body is None else body, headers=headers)


def created_id(response):
    assert response.status_code == 201, response.text
    return ORDER_ID.fullmatch(response.headers["location"]).group(1)


# -- token ------------------------------------------------------------------------------------
def test_token_answers_the_wire_shape_and_bad_credentials_get_401(sandbox_process):
    response = httpx.post(f"{sandbox_process.url}/oauth2/v1/token", json={
        "client_id": "sandbox-client", "client_secret": "sandbox-secret", "grant_type": "client_credentials"})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer" and token["token_timeout"] == "3600"
    assert token["user_name"] == "portal_api" and token["access_token"]
    wrong = httpx.post(f"{sandbox_process.url}/oauth2/v1/token", json={
        "client_id": "sandbox-client", "client_secret": "nope", "grant_type": "client_credentials"})
    assert_strict_errors(wrong, 401)
    form = httpx.post(f"{sandbox_process.url}/oauth2/v1/token", data={
        "client_id": "sandbox-client", "client_secret": "sandbox-secret", "grant_type": "client_credentials"})
    assert_strict_errors(form, 415)


def test_every_other_call_needs_a_live_bearer_token(sandbox_process):
    cid = str(uuid.uuid4())
    bare = httpx.post(f"{sandbox_process.url}{WORK_VISITS}", json=visit_body(), headers={"X-Correlation-Id": cid})
    errors = assert_strict_errors(bare, 401)
    assert errors[0]["correlationId"] == cid and bare.headers["x-correlation-id"] == cid
    assert_strict_errors(httpx.get(f"{sandbox_process.url}/colocations/v2/orders/1-10000000",
                                   headers={"authorization": "Bearer made-up"}), 401)
    sandbox_process.settings(tokenTimeout=120)
    with sandbox_process.client() as api:
        assert create(api).status_code == 201
        sandbox_process.advance(121)
        assert_strict_errors(create(api), 401)
    with sandbox_process.client() as api:
        sandbox_process.expire_tokens()
        assert_strict_errors(create(api), 401)
    assert len(sandbox_process.orders()) == 1


# -- create -----------------------------------------------------------------------------------
def test_create_answers_201_with_location_and_stores_the_order(sandbox_process, api):
    cid = str(uuid.uuid4())
    body = visit_body(customerReferenceId="PO-2026-17")
    response = create(api, body, **{"X-Correlation-Id": cid})
    order_id = created_id(response)
    assert response.headers["x-correlation-id"] == cid
    [order] = sandbox_process.orders()
    assert order["orderId"] == order_id and order["status"] == "RECEIVED" and order["body"] == body
    assert order["client"] == "sandbox-client" and order["createdAt"].endswith("Z")
    [seen] = sandbox_process.creates()
    assert seen["status"] == 201 and seen["body"] == body and seen["headers"]["x-correlation-id"] == cid
    assert seen["headers"]["authorization"].startswith("Bearer ")
    assert created_id(create(api)) != order_id


def test_a_non_registered_contact_with_company_name_is_refused(api, sandbox_process):
    body = visit_body(contacts=[{
        "firstName": "Tess", "lastName": "Technician", "companyName": "Acme Corp", "type": "TECHNICAL",
        "details": [{"type": "EMAIL", "value": "tess@acme.example"}]}])
    errors = assert_strict_errors(create(api, body), 400)
    assert properties(errors, "EQ-2010010") == {"contacts[0].companyName"}
    del body["contacts"][0]["companyName"]
    created_id(create(api, body))


def test_visitor_without_details_and_the_seeds_quoted_T_are_accepted(api):
    body = visit_body()
    body["details"]["visitors"] = [{"firstName": "Sam", "lastName": "Smith", "companyName": "Fixers Ltd"}]
    body["details"]["visitStartDateTime"] = body["details"]["visitStartDateTime"].replace("T", "'T'")
    created_id(create(api, body))


def test_cage_account_and_cabinet_must_belong_together(api):
    body = visit_body()
    body["details"]["cages"] = [
        {"id": "DC2:01:123456", "accountNumber": "3000000001"},
        {"id": "DC2:01:123457", "accountNumber": "1234567890", "cabinetId": "DC2:01:123457:0201"},
        {"id": "DC2:01:123456", "cabinetId": "AM1:02:200100:0001"},
        {"id": "XX9:00:000000"},
        {"accountNumber": "1234567890"},
    ]
    errors = assert_strict_errors(create(api, body), 400)
    assert properties(errors, "EQ-2010010") == {
        "details.cages[0].accountNumber", "details.cages[1].cabinetId", "details.cages[2].cabinetId",
        "details.cages[3].id"}
    assert properties(errors, "EQ-2016011") == {"details.cages[4].id"}


@pytest.mark.parametrize("change, expected", [
    (lambda b: b.pop("details"), {"details"}),
    (lambda b: b["details"].pop("visitors"), {"details.visitors"}),
    (lambda b: b.update(description="too short"), {"description"}),
    (lambda b: b.update(customerReferenceId="R" * 41), {"customerReferenceId"}),
    (lambda b: b.update(customerReferenceId=None), {"customerReferenceId"}),
    (lambda b: b.update(submissionKey="abc"), {"submissionKey"}),
    (lambda b: b["details"].update(visitEndDateTime=b["details"]["visitStartDateTime"]), {"details.visitEndDateTime"}),
    (lambda b: b["details"].update(visitStartDateTime="2026-05-01T09:00:00+00:00"), {"details.visitStartDateTime"}),
    (lambda b: b["details"].update(visitors=[{"registeredUsers": ["orderer"]}]),
     {"details.visitors[0].registeredUsers[0]"}),
    (lambda b: b["details"].update(visitors=[{"registeredUsers": ["acme_orderer"] * 11}]),
     {"details.visitors[0].registeredUsers"}),
    (lambda b: b["details"].update(visitors=[{"firstName": "A", "lastName": "B", "companyName": "C", "details": [
        {"type": "EMAIL", "value": "a@b.example"}, {"type": "MOBILE", "value": "+1 555"},
        {"type": "MOBILE", "value": "+1 556"}]}]), {"details.visitors[0].details"}),
    (lambda b: b["details"].update(visitors=[{"firstName": "A", "lastName": "B"}]),
     {"details.visitors[0].companyName"}),
    (lambda b: b.update(contacts=[{"registeredUsers": ["acme_orderer"], "type": "TECHNICAL"},
                                  {"registeredUsers": ["acme_technician"], "type": "TECHNICAL"}]),
     {"contacts[1].registeredUsers"}),
    (lambda b: b.update(contacts=[{"firstName": "N", "lastName": "C", "type": "NOTIFICATION",
                                   "details": [{"type": "EMAIL", "value": "n@c.example"}]}]), {"contacts[0].type"}),
    (lambda b: b.update(contacts=[{"firstName": "N", "lastName": "C", "type": "TECHNICAL",
                                   "details": [{"type": "PHONE", "value": "+1 555"}]}]), {"contacts[0].details"}),
    (lambda b: b.update(contacts=[{"registeredUsers": ["acme_orderer"], "type": "NOTIFICATION",
                                   "timezone": "Mars/Olympus"}]), {"contacts[0].timezone"}),
    (lambda b: b.update(attachments=[{"id": str(uuid.uuid4())}]), {"attachments[0].id"}),
    (lambda b: b.update(purchaseOrder={"type": "SOMETIMES"}), {"purchaseOrder.type"}),
])
def test_create_refuses_each_rule_by_its_path(api, change, expected):
    body = visit_body()
    change(body)
    errors = assert_strict_errors(create(api, body), 400)
    assert properties(errors) == expected


@pytest.mark.parametrize("kind", ["PHONE", "FAX"])
def test_a_visitor_detail_other_than_mobile_or_email_is_invalid_by_its_path(api, kind):
    body = visit_body()
    body["details"]["visitors"] = [{"firstName": "A", "lastName": "B", "companyName": "C", "details": [
        {"type": "EMAIL", "value": "a@b.example"}, {"type": kind, "value": "+1 555"}]}]
    errors = assert_strict_errors(create(api, body), 400)
    assert properties(errors) == properties(errors, "EQ-2010010") == {"details.visitors[0].details[1].type"}


def test_visits_are_at_most_14_days_and_end_in_the_future_by_the_sandbox_clock(api, sandbox_process):
    assert_strict_errors(create(api, visit_body(hours=14 * 24 + 1)), 400)
    created_id(create(api, visit_body(hours=14 * 24)))
    sandbox_process.advance(3 * 86400)
    with sandbox_process.client() as fresh:  # the first token expired on the way
        errors = assert_strict_errors(create(fresh, visit_body()), 400)
    assert properties(errors) == {"details.visitEndDateTime"}


def _globex_body(**overrides) -> dict:
    body = visit_body(visitor="globex_orderer", **overrides)
    body["details"]["cages"] = [{"id": "DC2:02:300300", "accountNumber": "3000000001"}]
    return body


def test_a_client_orders_and_sees_only_where_its_user_holds_the_work_visit_permission(sandbox_process):
    with sandbox_process.client(client_id="other-client", client_secret="other-secret") as globex:
        refused = create(globex, visit_body(visitor="globex_orderer"))  # Acme's cage
        errors = assert_strict_errors(refused, 403)
        assert properties(errors, "EQ-2012006") == {"details.cages[0].id"}
        # Acme's people are not Globex's users either; both errors come back at once.
        both = assert_strict_errors(create(globex, visit_body()), 403)
        assert properties(both, "EQ-2012006") == {"details.cages[0].id"}
        assert properties(both, "EQ-2010010") == {"details.visitors[0].registeredUsers[0]"}
        created_id(create(globex, _globex_body()))
        lookup = globex.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT", "details": "true"})
        [dc2] = lookup.json()["crossConnects"]
        assert [a["accountNumber"] for a in dc2["accounts"]] == ["3000000001"]
        assert {c["id"] for c in dc2["cages"]} == {"DC2:02:300300"}
        v1 = globex.get("/v1/orders/workvisit/locations", params={"detail": "true"}).json()["locations"]
        assert [(loc["ibx"], [c["cage"] for c in loc["cages"]]) for loc in v1] == [("DC2", ["DC2:02:300300"])]


def test_credit_hold_and_po_bearing_accounts(api):
    on_hold = visit_body()
    on_hold["details"]["cages"] = [{"id": "AM1:02:200101", "accountNumber": "2000000002"}]
    assert properties(assert_strict_errors(create(api, on_hold), 400)) == {"details.cages[0].accountNumber"}
    po = visit_body()
    po["details"]["cages"] = [{"id": "DC2:01:123457", "accountNumber": "1234567891"}]
    assert properties(assert_strict_errors(create(api, po), 400), "EQ-2016011") == {"purchaseOrder"}
    po["purchaseOrder"] = {"type": "EXISTING", "number": 1091238010, "amount": "2020",
                           "startDate": "2026-05-22", "endDate": "2027-05-22"}
    created_id(create(api, po))
    for amount in ("nan", "inf", "-1"):
        bad = {**po, "purchaseOrder": {**po["purchaseOrder"], "amount": amount}}
        assert properties(assert_strict_errors(create(api, bad), 400)) == {"purchaseOrder.amount"}
    # No account named: the line goes on the cage's only account, or the cabinet's, under the same rules.
    on_hold["details"]["cages"] = [{"id": "AM1:02:200101"}]
    assert properties(assert_strict_errors(create(api, on_hold), 400)) == {"details.cages[0].id"}
    by_cabinet = visit_body()
    by_cabinet["details"]["cages"] = [{"id": "DC2:01:123457", "cabinetId": "DC2:01:123457:0201"}]
    assert properties(assert_strict_errors(create(api, by_cabinet), 400), "EQ-2016011") == {"purchaseOrder"}


# -- read, status, modify, cancel ---------------------------------------------------------------
def test_read_answers_orders_v2_and_status_moves_with_the_sandbox_clock(api, sandbox_process):
    body = visit_body(contacts=[{"registeredUsers": ["acme_orderer"], "type": "NOTIFICATION"}])
    order_id = created_id(create(api, body))
    order = api.get(f"/colocations/v2/orders/{order_id}").json()
    assert order["orderId"] == order_id and order["status"] == "RECEIVED"
    assert order["customerReferenceId"] == "ACME-4711" and order["cancellable"] and order["modifiable"]
    assert {"registeredUser": "portal_api", "type": "ORDERING"} in order["contacts"]
    assert {"registeredUser": "acme_orderer", "type": "NOTIFICATION"} in order["contacts"]
    [line] = order["details"]
    assert line["productType"] == "WORK_VISIT" and line["ibx"] == "DC2" and line["cage"] == "DC2:01:123456"
    assert line["cabinets"] == ["DC2:01:123456:0101"] and line["status"] == "RECEIVED"
    assert order["accountNumber"] == "1234567890" and order["accountName"] == "Acme Ashburn"
    sandbox_process.advance(60)
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "IN_PROGRESS"
    sandbox_process.advance(60)
    closed = api.get(f"/colocations/v2/orders/{order_id}").json()
    assert closed["status"] == "CLOSED" and not closed["cancellable"] and closed["closedDateTime"]
    assert closed["details"][0]["status"] == "CLOSED"
    assert_strict_errors(api.get("/colocations/v2/orders/1-00000001"), 404)


def test_control_sets_a_status_which_then_holds(api, sandbox_process):
    order_id = created_id(create(api))
    assert sandbox_process.set_status(order_id, "ON_HOLD")["status"] == "ON_HOLD"
    sandbox_process.advance(600)
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "ON_HOLD"
    sandbox_process.set_status(order_id, "IN_PROGRESS")
    sandbox_process.advance(60)
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "CLOSED"


def test_modify_answers_202_and_refuses_what_the_wire_does_not_allow(api, sandbox_process):
    # Tomorrow at 09:00 UTC, so that the new end (23:00 the same day) follows the start at any time of day.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    body = visit_body(start=tomorrow.replace(hour=9, minute=0, second=0, microsecond=0))
    order_id = created_id(create(api, body))
    start = body["details"]["visitStartDateTime"]
    changed = api.patch(f"{WORK_VISITS}/{order_id}", json={
        "details": {"openCabinet": True, "visitEndDateTime": start.replace("T", "'T'")[:-9] + "23:00:00Z"},
        "contacts": [{"registeredUsers": ["acme_viewer"], "type": "NOTIFICATION", "availability": "ANYTIME"}]})
    assert changed.status_code == 202 and changed.headers["location"] == f"/orders/{order_id}"
    order = api.get(f"/colocations/v2/orders/{order_id}").json()
    assert order["details"][0]["openCabinet"] is True
    assert order["details"][0]["visitEndDateTime"] == start[:-9] + "23:00:00Z"  # the quoted 'T' written back plain
    assert {"registeredUser": "acme_viewer", "type": "NOTIFICATION", "availability": "ANYTIME"} in order["contacts"]
    two = [{"registeredUsers": ["acme_viewer"], "type": "NOTIFICATION"}] * 2
    assert properties(assert_strict_errors(api.patch(f"{WORK_VISITS}/{order_id}", json={"contacts": two}), 400)) \
        == {"contacts"}
    technical = [{"registeredUsers": ["acme_viewer"], "type": "TECHNICAL"}]
    assert properties(assert_strict_errors(api.patch(f"{WORK_VISITS}/{order_id}", json={"contacts": technical}),
                                           400)) == {"contacts[0].type"}
    backwards = {"details": {"visitEndDateTime": start}}
    assert properties(assert_strict_errors(api.patch(f"{WORK_VISITS}/{order_id}", json=backwards), 400)) \
        == {"details.visitEndDateTime"}
    missing = api.patch(f"{WORK_VISITS}/1-00000001", json={"details": {"openCabinet": False}})
    assert assert_strict_errors(missing, 404)[0]["errorCode"] == "EQ-2014005"
    [stored] = sandbox_process.orders()
    assert len(stored["modifications"]) == 1
    sandbox_process.set_status(order_id, "CLOSED")
    assert_strict_errors(api.patch(f"{WORK_VISITS}/{order_id}", json={"details": {"openCabinet": False}}), 409)


def test_cancel_needs_a_reason_and_is_final(api, sandbox_process):
    order_id = created_id(create(api))
    short = api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "no"})
    assert properties(assert_strict_errors(short, 400)) == {"reason"}
    done = api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Visit not needed any more."})
    assert done.status_code == 202
    assert api.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "CANCELLED"
    assert sandbox_process.orders()[0]["cancellation"]["reason"] == "Visit not needed any more."
    again = api.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Visit not needed any more."})
    assert_strict_errors(again, 409)
    assert_strict_errors(api.patch(f"{WORK_VISITS}/{order_id}", json={"details": {"openCabinet": True}}), 409)


# -- Order History search -----------------------------------------------------------------------
def test_order_history_search_finds_the_callers_orders_by_reference(api, sandbox_process):
    first = created_id(create(api, visit_body(customerReferenceId="REF-1")))
    sandbox_process.advance(5)
    second = created_id(create(api, visit_body(customerReferenceId="REF-10")))
    with sandbox_process.client(client_id="other-client", client_secret="other-secret") as other:
        created_id(create(other, _globex_body(customerReferenceId="REF-1")))
    found = api.post("/v1/retrieve-orders", json={"q": "REF-1", "filters": {"productTypes": ["WORK_VISIT"]},
                                                  "page": {"number": 0, "size": 10}})
    assert found.status_code == 200
    result = found.json()
    assert [o["orderNumber"] for o in result["content"]] == [second, first]  # newest first; q is a text search
    assert result["page"] == {"size": 10, "totalElements": 2, "totalPages": 1, "number": 0}
    entry = result["content"][1]
    assert entry["customerReferenceNumbers"] == ["REF-1"] and entry["ibx"] == ["DC2"]
    assert entry["type"] == ["WORK_VISIT"] and entry["orderStatus"] == "SUBMITTED"
    assert entry["createdAt"].endswith("Z") and entry["account"]["number"] == "1234567890"
    assert "orderingContact" in entry and entry["links"] == []
    paged = api.post("/v1/retrieve-orders", json={"page": {"number": 1, "size": 1},
                                                  "sorts": [{"name": "createdAt", "direction": "ASC"}]}).json()
    assert [o["orderNumber"] for o in paged["content"]] == [second] and paged["page"]["totalPages"] == 2
    assert api.post("/v1/retrieve-orders", json={"filters": {"ibxs": ["AM1"]}}).json()["content"] == []
    since = sandbox_process.now().isoformat()
    assert api.post("/v1/retrieve-orders", json={"q": "REF-1", "filters": {"fromDate": since}}).json()["content"] == []
    assert_strict_errors(api.post("/v1/retrieve-orders", json={"filters": {"fromDate": "yesterday"}}), 400)
    sandbox_process.settings(nosearch=True)
    assert_strict_errors(api.post("/v1/retrieve-orders", json={"q": "REF-1"}), 404)


# -- faults -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["503", "429", "500", "502", "504", "408"])
def test_status_faults_answer_without_acting_then_pass(api, sandbox_process, kind):
    sandbox_process.fault(kind, count=2, retryAfter=7)
    for _ in range(2):
        response = create(api)
        assert_strict_errors(response, int(kind))
        if kind in ("503", "429"):
            assert response.headers["retry-after"] == "7"
    assert sandbox_process.orders() == []
    created_id(create(api))
    assert [r["status"] for r in sandbox_process.creates()] == [int(kind), int(kind), 201]


def test_a_400_fault_answers_the_given_errors(api, sandbox_process):
    errors = [{"errorCode": "EQ-2010010", "errorMessage": "One or more properties are invalid.",
               "additionalInfo": [{"property": "details.cages[0].id", "reason": "The cage is being moved."}]}]
    sandbox_process.fault("400", errors=errors)
    response = create(api, **{"X-Correlation-Id": "abc-1"})
    body = assert_strict_errors(response, 400)
    assert properties(body) == {"details.cages[0].id"} and body[0]["correlationId"] == "abc-1"
    assert sandbox_process.orders() == []


def test_a_fault_only_hits_what_it_matches(api, sandbox_process):
    sandbox_process.fault("503", match="GET /colocations/v2/orders/")
    order_id = created_id(create(api))
    assert api.get(f"/colocations/v2/orders/{order_id}").status_code == 503
    assert api.get(f"/colocations/v2/orders/{order_id}").status_code == 200
    sandbox_process.fault("503", count=5)
    sandbox_process.clear_faults()
    created_id(create(api))


def test_drop_stores_the_order_and_closes_without_an_answer(api, sandbox_process):
    sandbox_process.fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        create(api)
    [order] = sandbox_process.orders()
    assert order["status"] == "RECEIVED"
    [seen] = sandbox_process.creates()
    assert seen["fault"] == "drop" and seen["status"] is None
    created_id(create(api))
    assert len(sandbox_process.orders()) == 2


def test_slow_acts_then_answers_late(api, sandbox_process):
    sandbox_process.fault("slow", delay=0.4)
    with pytest.raises(httpx.ReadTimeout):
        api.post(WORK_VISITS, json=visit_body(), timeout=httpx.Timeout(5, read=0.1))
    assert len(sandbox_process.orders()) == 1
    [seen] = sandbox_process.creates()
    assert seen["fault"] == "slow"
    sandbox_process.wait_for(lambda: sandbox_process.creates()[0]["status"] == 201, seconds=10,
                             what="the slow answer")


def test_latency_delays_every_upstream_call_but_not_the_control_api(api, sandbox_process):
    sandbox_process.settings(latency=0.3)
    started = time.monotonic()
    created_id(create(api))
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        api.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT"},
                timeout=httpx.Timeout(5, read=0.1))
    started = time.monotonic()
    sandbox_process.state()
    assert time.monotonic() - started < 0.3


# -- locations ----------------------------------------------------------------------------------
def test_lookup_v2_locations(api):
    response = api.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT", "details": "true"})
    assert response.status_code == 200
    by_ibx = {c["ibx"]: c for c in response.json()["crossConnects"]}
    assert set(by_ibx) == {"DC2", "AM1"}
    am1 = by_ibx["AM1"]
    assert {"accountNumber": "2000000002", "accountName": "Acme Amsterdam lab", "allowOrder": False} in am1["accounts"]
    assert {"id": "AM1:02:200100", "type": "CAGE", "accountNumbers": ["2000000001"],
            "cabinetId": "AM1:02:200100:0001", "cabinetType": "CABINET"} in am1["cages"]
    assert {c["id"] for c in by_ibx["DC2"]["cages"]} == {"DC2:01:123456", "DC2:01:123457", "DC2:02:300300"}
    only = api.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT", "ibxs": "AM1"}).json()
    # Without details=true, the IBXs alone (no accounts, no cages), as the catalogue describes it.
    assert only["crossConnects"] == [{"ibx": "AM1", "accessRestricted": False, "specialPrivilege": False}]
    assert_strict_errors(api.get("/colocations/v2/locations"), 400)


def test_work_visit_v1_locations(api):
    response = api.get("/v1/orders/workvisit/locations", params={"detail": "true", "ibxs": "DC2"})
    [dc2] = response.json()["locations"]
    cages = {c["cage"]: c for c in dc2["cages"]}
    projects = next(a for a in cages["DC2:01:123457"]["accounts"] if a["number"] == "1234567891")
    assert projects == {"number": "1234567891", "name": "Acme Ashburn projects", "isCreditHold": False,
                        "isPOBearing": True, "cabinets": [{"cabinet": "DC2:01:123457:0201", "cabinetType": "CABINET"}]}
    assert cages["DC2:02:300300"]["accounts"][0]["name"] == "Globex Ashburn"


# -- attachments --------------------------------------------------------------------------------
def test_attachments_upload_read_use_and_delete(api, sandbox_process):
    uploaded = api.post("/v1/attachments/file", files={"uploadFile": ("floor plan.pdf", b"%PDF-1.4 plan",
                                                                      "application/octet-stream")})
    assert uploaded.status_code == 201
    attachment = uploaded.json()
    assert set(attachment) == {"attachmentId", "attachmentName", "attachmentType", "attachmentSize",
                               "createdDate", "createdBy", "lastUpdatedDate"}
    assert attachment["attachmentName"] == "floor plan.pdf" and attachment["attachmentSize"] == 13
    assert str(uuid.UUID(attachment["attachmentId"])) == attachment["attachmentId"]
    attachment_id = attachment["attachmentId"]
    assert api.get(f"/v1/attachments/{attachment_id}").json() == attachment
    assert api.get(f"/v1/attachments/{attachment_id}/file").content == b"%PDF-1.4 plan"
    [seen] = sandbox_process.requests("POST", "/v1/attachments")
    assert seen["body"] == {"parts": ["uploadFile"], "files": {"uploadFile": "floor plan.pdf"}}
    created_id(create(api, visit_body(attachments=[{"id": attachment_id, "name": "floor plan"}])))
    assert api.delete(f"/v1/attachments/{attachment_id}").status_code == 204
    assert_strict_errors(api.get(f"/v1/attachments/{attachment_id}"), 404)
    wrong_part = api.post("/v1/attachments/file", files={"file": ("a.pdf", b"%PDF", "application/pdf")})
    assert properties(assert_strict_errors(wrong_part, 400)) == {"uploadFile"}
    exe = api.post("/v1/attachments/file", files={"uploadFile": ("tool.exe", b"MZ", "application/octet-stream")})
    assert properties(assert_strict_errors(exe, 400)) == {"uploadFile"}
    big = api.post("/v1/attachments/file", files={"uploadFile": ("big.txt", b"x" * (10 * 1024 * 1024 + 1))})
    assert_strict_errors(big, 413)


# -- errors and the request log -------------------------------------------------------------------
def test_unknown_paths_and_methods_get_error_arrays(api, sandbox_process):
    assert_strict_errors(api.get("/colocations/v2/orders"), 404)
    assert_strict_errors(api.get("/colocations/v2/attachments/file"), 404)
    assert_strict_errors(httpx.get(f"{sandbox_process.url}/nothing/here"), 404)
    wrong = api.get(WORK_VISITS)
    assert_strict_errors(wrong, 405)
    assert wrong.headers["allow"] == "POST"
    not_json = api.post(WORK_VISITS, content=b"description=x", headers={"content-type": "text/plain"})
    assert_strict_errors(not_json, 415)
    broken = api.post(WORK_VISITS, content=b"{", headers={"content-type": "application/json"})
    assert_strict_errors(broken, 400)


def test_state_shows_orders_requests_and_reset_forgets_them(api, sandbox_process):
    body = copy.deepcopy(visit_body())
    created_id(create(api, body))
    sandbox_process.fault("503", count=3)
    sandbox_process.settings(latency=0.01)
    before = sandbox_process.now()
    sandbox_process.advance(3600)
    state = sandbox_process.state()
    assert state["orders"][0]["body"] == body and state["faults"][0]["kind"] == "503"
    request = state["requests"][-1]
    assert request["method"] == "POST" and request["path"] == WORK_VISITS and request["query"] == ""
    assert request["headers"]["content-type"] == "application/json" and request["at"].endswith("Z")
    sandbox_process.reset()
    state = sandbox_process.state()
    assert state["orders"] == state["requests"] == state["faults"] == []
    assert state["settings"]["latency"] == 0
    assert (sandbox_process.now() - before).total_seconds() < 600
    created_id(create(api))  # tokens outlive a reset


# -- the process --------------------------------------------------------------------------------
def test_concurrent_creates_are_each_stored_once(sandbox_process):
    token = sandbox_process.token()

    def one(index):
        with httpx.Client(base_url=sandbox_process.url, verify=TLS, timeout=30,
                          headers={"authorization": f"Bearer {token}"}) as client:
            return created_id(create(client, visit_body(customerReferenceId=f"PAR-{index}")))

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(32)))
    assert len(set(ids)) == 32
    stored = sandbox_process.orders()
    assert sorted(o["orderId"] for o in stored) == sorted(ids)
    assert sorted(o["body"]["customerReferenceId"] for o in stored) == sorted(f"PAR-{i}" for i in range(32))


def test_answers_carry_their_length(api):
    response = api.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT"})
    assert int(response.headers["content-length"]) == len(response.content)


def test_sigterm_stops_the_process():
    server = SandboxProcess()
    try:
        assert httpx.get(f"{server.url}/_sandbox/clock", verify=TLS).status_code == 200
        server.process.terminate()
        assert server.process.wait(timeout=20) == 0
    finally:
        server.stop()


def test_the_sandbox_imports_nothing_of_the_portal():
    imported = set()
    for source in (REPO / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert "django" in imported
    assert not imported & {"workvisits", "portal", "tests"}
