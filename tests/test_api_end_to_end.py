"""A customer's script written only from CONTRACT.md and the seed, against a live server.

`run_script(base_url, client_id, client_secret)` is the script; the test runs it on the live test server
with credentials from `manage.py create_api_client`.
"""

import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core.management import call_command

from tests.api_support import media_in

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.xdist_group("api-token")]


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(response: httpx.Response) -> dict[str, list[str]]:
    return {e["errorCode"]: [i["property"] for i in e["additionalInfo"]] for e in response.json()}


def run_script(base_url: str, client_id: str, client_secret: str) -> dict:
    http = httpx.Client(base_url=base_url, timeout=30)
    seen: dict = {}

    # Token.
    token = http.post(
        "/oauth2/v1/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer" and int(token.json()["token_timeout"]) > 0
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    # Locations: pick a cage, account and cabinet the caller may order for.
    locations = http.get("/colocations/v2/locations", params={"permissionCode": "WORK_VISIT"})
    assert locations.status_code == 200
    cage, account = next(
        (c, a)
        for loc in locations.json()["locations"]
        for c in loc["cages"]
        for a in c["accounts"]
        if not a["isCreditHold"] and not a["isPOBearing"] and a["cabinets"]
    )

    # Upload an attachment.
    upload = http.post(
        "/colocations/v2/attachments/file", files={"file": ("rack-photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 99)}
    )
    assert upload.status_code == 201, upload.text
    attachment_id = upload.json()["attachmentId"]

    # Create, from the seed's sample with future dates and our own names.
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    body = {
        "description": "Monthly Routine check",
        "customerReferenceId": "048837d6-4cd8-401f-ba41-a4ac015c3f3e",
        "attachments": [{"id": attachment_id, "name": "rack photo"}],
        "contacts": [{"registeredUsers": [token.json()["user_name"]], "type": "NOTIFICATION"}],
        "details": {
            "cages": [
                {"id": cage["cage"], "accountNumber": account["number"], "cabinetId": account["cabinets"][0]["cabinet"]}
            ],
            "openCabinet": False,
            "visitStartDateTime": _utc(start),
            "visitEndDateTime": _utc(start + timedelta(hours=8)),
            "visitors": [
                {
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "companyName": "Engines Ltd",
                    "details": [{"type": "EMAIL", "value": "ada@engines.example"}],
                }
            ],
        },
    }
    created = http.post("/colocations/v2/orders/workVisits", json=body)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith("/orders/")
    order_id = location.rsplit("/", 1)[1]
    seen["order_id"] = order_id

    # Read and list.
    order = http.get(f"/colocations/v2{location}")
    assert order.status_code == 200
    assert order.json()["details"]["visitStartDateTime"] == _utc(start)
    assert order.json()["attachments"][0]["id"] == attachment_id
    listed = http.get("/colocations/v2/orders", params={"ibx": cage["cage"].split(":")[0], "page": 1})
    assert order_id in [o["orderId"] for o in listed.json()["content"]]

    # Modify, with the seed's quirky datetime format and the version read.
    new_start = start + timedelta(days=1)
    modified = http.patch(
        f"/colocations/v2/orders/workVisits/{order_id}",
        json={
            "details": {
                "visitStartDateTime": new_start.strftime("%Y-%m-%d'T'%H:%M:%SZ"),
                "visitEndDateTime": (new_start + timedelta(hours=4)).strftime("%Y-%m-%d'T'%H:%M:%SZ"),
                "openCabinet": True,
            }
        },
        headers={"If-Match": order.headers["ETag"]},
    )
    assert modified.status_code == 202, modified.text
    assert modified.headers["Location"] == location
    again = http.get(f"/colocations/v2/orders/{order_id}").json()
    assert again["details"]["visitStartDateTime"] == _utc(new_start) and again["details"]["openCabinet"] is True

    # The documented error for each broken rule.
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
        "six attachments": ({**body, "attachments": [{"id": attachment_id}] * 6}, 400, "EQ-2010010", "attachments"),
    }
    for name, (bad, status, code, prop) in broken.items():
        response = http.post("/colocations/v2/orders/workVisits", json=bad)
        assert response.status_code == status, (name, response.text)
        assert prop in _errors(response).get(code, []), (name, response.text)
        assert response.json()[0]["correlationId"] == response.headers["X-Correlation-ID"]
    not_json = http.post(
        "/colocations/v2/orders/workVisits", content=b"description=x", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 415
    unknown = http.get("/colocations/v2/orders/WV-NOSUCHORDER")
    assert unknown.status_code == 404 and "EQ-2014005" in _errors(unknown)
    no_token = httpx.get(f"{base_url}/colocations/v2/orders")
    assert no_token.status_code == 401

    # Cancel; afterwards the order can be neither changed nor cancelled: 409.
    cancelled = http.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "The vendor cannot come."})
    assert cancelled.status_code == 202, cancelled.text
    assert http.get(f"/colocations/v2/orders/{order_id}").json()["status"] == "CANCELLED"
    assert http.post(f"/colocations/v2/orders/{order_id}/cancel", json={"reason": "Again, please."}).status_code == 409
    late = http.patch(f"/colocations/v2/orders/workVisits/{order_id}", json={"details": {"openCabinet": False}})
    assert late.status_code == 409
    seen["final_status"] = "CANCELLED"
    return seen


def test_a_script_from_the_contract_does_everything_on_a_live_server(live_server, demo, settings, tmp_path):
    media_in(settings, tmp_path)
    out = io.StringIO()
    call_command("create_api_client", "orderer", stdout=out, stderr=io.StringIO())
    printed = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    result = run_script(live_server.url, printed["client_id"], printed["client_secret"])
    assert result["final_status"] == "CANCELLED"
