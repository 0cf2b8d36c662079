"""The webhooks API (the portal's extension): an organization's admin registers, lists, disables and
deletes endpoints, sees deliveries and sends one again; nobody else sees or touches them."""

import pytest

from tests.api_support import Api, token_for
from tests.test_api_schema import CHECKS, api_schema, call  # noqa: F401 (api_schema: the fixture)
from tests.webhooks_support import make_webhook_admin
from workvisits import services
from workvisits.models import WebhookDelivery, WebhookEndpoint

HOOKS = "/colocations/v2/webhooks"
PUBLIC_URL = "https://93.184.215.14/hooks/work-visits"  # a public address: no DNS needed


@pytest.fixture
def admin(orderer):
    return make_webhook_admin(orderer)


def properties(response) -> set[str]:
    return {info["property"] for entry in response.json() for info in entry["additionalInfo"]}


def register(api, **body):
    return api.post(HOOKS, {"url": PUBLIC_URL, "events": ["order.placed", "order.cancelled"], **body})


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(admin):
    api = Api(admin)
    created = register(api, description="Our ticketing system")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert created.headers["Location"] == f"{HOOKS}/{body['endpointId']}"
    assert body["events"] == ["order.placed", "order.cancelled"] and body["active"] is True
    assert body["createdBy"] == "orderer"
    listed = api.get(HOOKS).json()["data"]
    assert [e["endpointId"] for e in listed] == [body["endpointId"]]
    assert "secret" not in listed[0] and "secret" not in api.get(created.headers["Location"]).json()
    # The secret is derived, not stored: no column of the row holds it.
    row = WebhookEndpoint.objects.filter(endpoint_id=body["endpointId"]).values().get()
    assert body["secret"] not in {str(v) for v in row.values()}


BAD_REGISTRATIONS = [
    ({"url": None}, "url", "required"),
    ({"events": []}, "events", "required"),
    ({"events": ["order.placed", "order.exploded"]}, "events[1]", "not an event"),
    ({"url": "http://93.184.215.14/hook"}, "url", "https://"),
    ({"url": "https://user:pw@93.184.215.14/hook"}, "url", "password"),
    ({"url": "not a url"}, "url", "https://"),
    ({"colour": "blue"}, "colour", "Unknown property"),
    ({"description": "x" * 201}, "description", "200"),
]


def test_bad_registrations_name_the_field(admin, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    api = Api(admin)
    for body, path, words in BAD_REGISTRATIONS:
        response = register(api, **body)
        assert response.status_code == 400, (body, response.json())
        assert properties(response) == {path}, body
        assert words in response.json()[0]["additionalInfo"][0]["reason"], body
    assert not WebhookEndpoint.objects.exists()


def test_members_without_the_permission_and_other_organizations_see_nothing(admin, viewer, globex, make_body):
    endpoint_id = register(Api(admin)).json()["endpointId"]
    services.order_create(user=admin, data=make_body())
    delivery = WebhookDelivery.objects.get()

    plain = Api(viewer)  # a member of the same organization, not an administrator
    for response in (plain.get(HOOKS), register(plain), plain.get(f"{HOOKS}/{endpoint_id}/deliveries")):
        assert response.status_code == 403
        assert "administrators" in response.json()[0]["additionalInfo"][0]["reason"]

    other = Api(make_webhook_admin(globex))  # the administrator of another organization
    assert other.get(HOOKS).json()["data"] == []
    assert other.get(f"{HOOKS}/{endpoint_id}").status_code == 404
    assert other.get(f"{HOOKS}/{endpoint_id}/deliveries").status_code == 404
    resend = other.post(f"{HOOKS}/{endpoint_id}/deliveries/{delivery.delivery_id}/resend")
    assert resend.status_code == 404
    assert other.patch(f"{HOOKS}/{endpoint_id}", {"active": False}).status_code == 404
    assert other.delete(f"{HOOKS}/{endpoint_id}").status_code == 404
    assert WebhookEndpoint.objects.get().active is True
    assert WebhookDelivery.objects.get().attempts == 0


def test_deliveries_are_listed_resent_and_given_up_with_a_disabled_endpoint(admin, make_body):
    api = Api(admin)
    endpoint_id = register(api).json()["endpointId"]
    order = services.order_create(user=admin, data=make_body())
    services.order_cancel(user=admin, order_id=order.order_id, reason="Not needed after all.")

    deliveries = api.get(f"{HOOKS}/{endpoint_id}/deliveries").json()["data"]
    assert [(d["eventType"], d["orderId"], d["status"]) for d in deliveries] == [
        ("order.cancelled", order.order_id, "PENDING"),
        ("order.placed", order.order_id, "PENDING"),
    ]
    placed = deliveries[1]["deliveryId"]
    WebhookDelivery.objects.filter(delivery_id=placed).update(status="FAILED", attempts=30, last_error="gone")
    resent = api.post(f"{HOOKS}/{endpoint_id}/deliveries/{placed}/resend")
    assert resent.status_code == 202
    assert resent.json()["status"] == "PENDING" and resent.json()["attempts"] == 0

    disabled = api.patch(f"{HOOKS}/{endpoint_id}", {"active": False, "reason": "Maintenance"})
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False and disabled.json()["disabledReason"] == "Maintenance"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"FAILED"}
    refused = api.post(f"{HOOKS}/{endpoint_id}/deliveries/{placed}/resend")
    assert refused.status_code == 400 and properties(refused) == {"endpoint"}
    assert api.patch(f"{HOOKS}/{endpoint_id}", {"active": "yes"}).status_code == 400
    assert api.patch(f"{HOOKS}/{endpoint_id}", {"active": True}).json()["active"] is True

    assert api.delete(f"{HOOKS}/{endpoint_id}").status_code == 204
    assert api.get(f"{HOOKS}/{endpoint_id}").status_code == 404
    assert not WebhookDelivery.objects.exists()


def test_real_answers_keep_to_the_openapi_document(api_schema, admin, make_body):  # noqa: F811 (the fixture)
    """Every successful answer of the webhooks API, validated against the published schema."""
    auth = {"Authorization": f"Bearer {token_for(admin)}"}

    def check(method, path, expected, **kwargs):
        case = api_schema[path][method].Case(headers=auth, **kwargs)
        response = call(case)
        assert response.status_code == expected, response.text
        case.validate_response(response, checks=CHECKS)
        return response

    body = {"url": PUBLIC_URL, "events": ["order.placed"], "description": "CMDB"}
    created = check("POST", HOOKS, 201, body=body, media_type="application/json").json()
    services.order_create(user=admin, data=make_body())
    one = {"endpointId": created["endpointId"]}
    check("GET", HOOKS, 200)
    check("GET", f"{HOOKS}/{{endpointId}}", 200, path_parameters=one)
    deliveries = check("GET", f"{HOOKS}/{{endpointId}}/deliveries", 200, path_parameters=one).json()["data"]
    resend = f"{HOOKS}/{{endpointId}}/deliveries/{{deliveryId}}/resend"
    check("POST", resend, 202, path_parameters={**one, "deliveryId": deliveries[0]["deliveryId"]})
    check(
        "PATCH",
        f"{HOOKS}/{{endpointId}}",
        200,
        path_parameters=one,
        body={"active": False},
        media_type="application/json",
    )
    check("DELETE", f"{HOOKS}/{{endpointId}}", 204, path_parameters=one)
