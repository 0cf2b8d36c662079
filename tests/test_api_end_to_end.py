"""A customer's script written only from UPSTREAM_WIRE.md and CONTRACT.md, against a live server.

`run_script(base_url, client_id, client_secret)` is the script; the test runs it on the live test server
with credentials from `manage.py create_api_client`.
"""

import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core.management import call_command

from tests.api_support import media_in

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.xdist_group("api-token")]


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# The keys the SDK's error parser accepts on an entry (any other key loses the whole error).
ERROR_ENTRY_KEYS = set(
    "errorCode statusCode errorDomain errorMessage message error fault details correlationId status path moreInfo "
    "timestamp additionalInfo errorMessageKey property help errorTitle developerMessage".split()
)


def _errors(response: httpx.Response) -> dict[str, list[str]]:
    return {e["errorCode"]: [i["property"] for i in e["additionalInfo"]] for e in response.json()}


ORDER_ID_IN_LOCATION = re.compile(r".*/orders/([^/\s?]+)", re.IGNORECASE)
ORDER_STATUSES = {"RECEIVED", "IN_PROGRESS", "ON_HOLD", "CLOSED", "CANCELLED"}


def run_script(base_url: str, client_id: str, client_secret: str) -> dict:
    """An Equinix client's calls, as UPSTREAM_WIRE.md records them (headers, bodies, how answers are read)."""
    http = httpx.Client(base_url=base_url, timeout=30)
    seen: dict = {}

    def call(method, path, **kwargs):
        # The SDK's standard headers: content-type on every call (GET too) and one correlation id per request.
        headers = {
            "content-type": "application/json",
            "X-Correlation-Id": str(uuid.uuid4()),
            **kwargs.pop("headers", {}),
        }
        if "files" in kwargs:
            headers.pop("content-type")
        response = http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            assert response.json()[0]["correlationId"] == headers["X-Correlation-Id"], response.text
        return response

    # Token: token_timeout is a string whose leading digits are read.
    token = call(
        "POST",
        "/oauth2/v1/token",
        json={"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"},
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    token_seconds = int(re.match(r"\d+", token.json()["token_timeout"])[0])
    http.headers["authorization"] = f"Bearer {token.json()['access_token']}"
    me = token.json()["user_name"]

    # Locations, Lookup v2: a cage entry with a cabinet of an account that may order.
    lookup = call("GET", "/colocations/v2/locations", params={"permissionCode": "WORK_VISIT"})
    assert lookup.status_code == 200
    allowed = {a["accountNumber"] for loc in lookup.json()["crossConnects"] for a in loc["accounts"] if a["allowOrder"]}
    cage_id, account_number, cabinet_id = next(
        (c["id"], c["accountNumbers"][0], c["cabinetId"])
        for loc in lookup.json()["crossConnects"]
        for c in loc["cages"]
        if c.get("cabinetId") and c["accountNumbers"][0] in allowed
    )
    # And the v1 answer (still what workVisits().listLocations() calls): the same cage, with PO-bearing flags.
    v1 = call("GET", "/v1/orders/workvisit/locations", params={"detail": "true"})
    assert v1.status_code == 200
    account = next(
        a
        for loc in v1.json()["locations"]
        for c in loc["cages"]
        if c["cage"] == cage_id
        for a in c["accounts"]
        if a["number"] == account_number
    )
    assert cabinet_id in [c["cabinet"] for c in account["cabinets"]] and not account["isCreditHold"]
    assert not account["isPOBearing"]

    # Attachments: one multipart part uploadFile, sent as application/octet-stream.
    def upload(name, content):
        response = call(
            "POST", "/v1/attachments/file", files={"uploadFile": (name, content, "application/octet-stream")}
        )
        assert response.status_code == 201, response.text
        assert response.json()["attachmentName"] == name
        return response.json()["attachmentId"]

    photo_id = upload("rack-photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 99)
    letter_id = upload("cancellation.pdf", b"%PDF-1.4 we cannot come")

    # Create: a non-registered TECHNICAL contact (no companyName, availability or timezone) and a visitor
    # without details, as the SDK's own test sends them; null fields left out.
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    body = {
        "description": "Monthly Routine check",
        "customerReferenceId": "048837d6-4cd8-401f-ba41-a4ac015c3f3e",
        "attachments": [{"id": photo_id, "name": "rack photo"}],
        "contacts": [
            {
                "firstName": "Tina",
                "lastName": "Tech",
                "type": "TECHNICAL",
                "details": [
                    {"type": "EMAIL", "value": "tina@fixers.example"},
                    {"type": "PHONE", "value": "+1 555 0100"},
                ],
            },
            {"registeredUsers": [me], "type": "NOTIFICATION", "availability": "ANYTIME", "timezone": "UTC"},
        ],
        "details": {
            "cages": [{"id": cage_id, "accountNumber": account_number, "cabinetId": cabinet_id}],
            "openCabinet": False,
            "visitStartDateTime": _utc(start),
            "visitEndDateTime": _utc(start + timedelta(hours=8)),
            "visitors": [{"firstName": "Ada", "lastName": "Lovelace", "companyName": "Engines Ltd"}],
        },
    }
    created = call("POST", "/colocations/v2/orders/workVisits", json=body)
    assert created.status_code == 201, created.text
    order_id = ORDER_ID_IN_LOCATION.match(created.headers["location"])[1]  # the body is not read
    seen["order_id"] = order_id

    # Read, as Orders v2: status on the enum, the ORDERING contact, one line per cage.
    order = call("GET", f"/colocations/v2/orders/{order_id}")
    assert order.status_code == 200
    got = order.json()
    assert got["orderId"] == order_id and got["status"] in ORDER_STATUSES
    assert {"type": "ORDERING", "registeredUser": me} in got["contacts"]
    technical = next(c for c in got["contacts"] if c["type"] == "TECHNICAL")
    assert (technical["firstName"], technical["availability"]) == ("Tina", "WORK_HOURS")
    lines = got["details"]
    assert [(line["cage"], line["cabinets"], line["productType"]) for line in lines] == [
        (cage_id, [cabinet_id], "WORK_VISIT")
    ]
    assert got["accountNumber"] == account_number and got["cancellable"] and got["modifiable"]

    # Order History.
    history = call(
        "POST",
        "/v1/retrieve-orders",
        json={
            "filters": {"ibxs": [lines[0]["ibx"]], "productTypes": ["WORK_VISIT"]},
            "sorts": [{"name": "createdAt", "direction": "DESC"}],
            "page": {"number": 0, "size": 10},
        },
    )
    assert history.status_code == 200, history.text
    assert history.json()["content"][0]["orderNumber"] == order_id
    assert history.json()["content"][0]["type"] == ["WORK_VISIT"] and history.json()["page"]["number"] == 0

    # Modify: the seed's quirky datetimes, and a notification contact with availability and timezone.
    new_start = start + timedelta(days=1)
    modified = call(
        "PATCH",
        f"/colocations/v2/orders/workVisits/{order_id}",
        json={
            "contacts": [
                {
                    "registeredUsers": [me],
                    "type": "NOTIFICATION",
                    "availability": "WORK_HOURS",
                    "timezone": "America/New_York",
                }
            ],
            "details": {
                "visitStartDateTime": new_start.strftime("%Y-%m-%d'T'%H:%M:%SZ"),
                "visitEndDateTime": (new_start + timedelta(hours=4)).strftime("%Y-%m-%d'T'%H:%M:%SZ"),
                "openCabinet": True,
            },
        },
    )
    assert modified.status_code == 202, modified.text
    assert ORDER_ID_IN_LOCATION.match(modified.headers["location"])[1] == order_id

    # The documented error for each broken rule, every entry with only the keys the SDK's parser knows.
    broken = {
        "description": ({**body, "description": "short"}, 400, "EQ-2010010", "description"),
        "missing cage id": (
            {**body, "attachments": [], "details": {**body["details"], "cages": [{}]}},
            400,
            "EQ-2016011",
            "details.cages[0].id",
        ),
        "15 days": (
            {
                **body,
                "attachments": [],
                "details": {**body["details"], "visitEndDateTime": _utc(start + timedelta(days=15))},
            },
            400,
            "EQ-2010010",
            "details.visitEndDateTime",
        ),
        "contact type": (
            {**body, "attachments": [], "contacts": [{"registeredUsers": ["x"], "type": "BOSS"}]},
            400,
            "EQ-2010010",
            "contacts[0].type",
        ),
        "six attachments": ({**body, "attachments": [{"id": photo_id}] * 6}, 400, "EQ-2010010", "attachments"),
    }
    for name, (bad, status, code, prop) in broken.items():
        response = call("POST", "/colocations/v2/orders/workVisits", json=bad)
        assert response.status_code == status, (name, response.text)
        assert prop in _errors(response).get(code, []), (name, response.text)
        for entry in response.json():
            assert set(entry) <= ERROR_ENTRY_KEYS and all(
                set(i) <= {"property", "reason", "value"} for i in entry["additionalInfo"]
            )
    not_json = call(
        "POST", "/colocations/v2/orders/workVisits", content=b"description=x", headers={"content-type": "text/plain"}
    )
    assert not_json.status_code == 415
    unknown = call("GET", "/colocations/v2/orders/WV-NOSUCHORDER")
    assert unknown.status_code == 404 and "EQ-2014005" in _errors(unknown)
    nowhere = call("GET", "/v1/no-such-endpoint")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == "application/json"
    no_token = httpx.get(f"{base_url}/colocations/v2/orders/{order_id}")
    assert no_token.status_code == 401

    # Cancel with a letter and the order's lines; afterwards neither change nor cancel: 409.
    cancelled = call(
        "POST",
        f"/colocations/v2/orders/{order_id}/cancel",
        json={
            "reason": "The vendor cannot come.",
            "attachments": [{"id": letter_id, "name": "letter"}],
            "lineIds": [line["lineId"] for line in lines],
        },
    )
    assert cancelled.status_code == 202, cancelled.text
    assert call("GET", f"/colocations/v2/orders/{order_id}").json()["status"] == "CANCELLED"
    again = call("POST", f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Again, please."})
    assert again.status_code == 409
    late = call("PATCH", f"/colocations/v2/orders/workVisits/{order_id}", json={"details": {"openCabinet": False}})
    assert late.status_code == 409
    seen["final_status"] = "CANCELLED"
    seen["token_seconds"] = token_seconds
    return seen


def test_a_script_from_the_contract_does_everything_on_a_live_server(live_server, demo, settings, tmp_path):
    media_in(settings, tmp_path)
    out = io.StringIO()
    call_command("create_api_client", "orderer", stdout=out, stderr=io.StringIO())
    printed = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    result = run_script(live_server.url, printed["client_id"], printed["client_secret"])
    assert result["final_status"] == "CANCELLED"
    assert result["token_seconds"] == settings.API_TOKEN_SECONDS
