"""The bodies the portal sends upstream, from orders placed through the service: the customer's reference
unchanged (or the portal's order id), the order id at the end of the description, people sent under
their upstream usernames or by name and email, no companyName on a typed-in contact, no nulls."""

import json

import pytest

from tests.api_support import Api
from tests.orders_support import NINA
from tests.pipeline_harness import sandbox_fixture  # noqa: F401
from workvisits import notifications, selectors, services, submission
from workvisits.choices import OrderStatus
from workvisits.models import Order, User
from workvisits.rules import DESCRIPTION_MAX, DESCRIPTION_MIN
from workvisits.upstream import payloads

SAM = [{"type": "MOBILE", "value": "+31 6 1234 5678"}]


def _order(user, body) -> Order:
    order = services.order_create(user=user, data=body)
    return Order.objects.select_related("organization").get(pk=order.pk)


def _nulls(value, path="") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def test_the_customers_reference_reaches_the_upstream_unchanged(orderer, make_body):
    order = _order(orderer, make_body(customerReferenceId="ACME-4711"))
    body = payloads.create_body(order)
    assert body["customerReferenceId"] == "ACME-4711" == payloads.sent_reference(order)


def test_without_a_reference_the_portal_sends_its_own_order_id(orderer, make_body):
    data = make_body()
    del data["customerReferenceId"]
    order = _order(orderer, data)
    assert payloads.create_body(order)["customerReferenceId"] == order.order_id == payloads.sent_reference(order)


def test_the_order_id_ends_the_description(orderer, make_body):
    order = _order(orderer, make_body(description="Replace a failed power supply in cabinet 0101."))
    text = payloads.create_body(order)["description"]
    assert text == f"Replace a failed power supply in cabinet 0101.\n\nPortal order {order.order_id}"


@pytest.mark.parametrize("empty", ["", "   \n "])
def test_without_a_description_the_portal_order_sentence_alone_is_sent(orderer, make_body, empty):
    order = _order(orderer, make_body())
    order.description = empty  # the description is optional upstream
    text = payloads.create_body(order)["description"]
    assert text == f"Portal order {order.order_id}" and DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX


def test_an_order_without_a_description_is_accepted_by_the_sandbox_upstream(sandbox, orderer, make_body):
    order = _order(orderer, make_body())
    Order.objects.filter(pk=order.pk).update(description="")
    assert submission.order_submit(order_pk=order.pk).result.startswith("submitted as ")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    assert sandbox.orders()[0]["body"]["description"] == f"Portal order {order.order_id}"


def test_a_long_description_is_shortened_never_the_order_id(orderer, make_body):
    customer_text = "Inspect every rack and note the serial numbers. " * 90
    order = _order(orderer, make_body(description=customer_text[:DESCRIPTION_MAX]))
    text = payloads.create_body(order)["description"]
    assert len(text) == DESCRIPTION_MAX
    assert text.endswith(f"…\n\nPortal order {order.order_id}")
    assert text.startswith("Inspect every rack and note the serial numbers. Inspect every rack")


def test_registered_visitors_by_upstream_username_or_by_name_and_email(orderer, make_body):
    order = _order(
        orderer,
        make_body(
            details={
                **make_body()["details"],
                "visitors": [
                    {"registeredUsers": ["orderer", "viewer"]},
                    {"firstName": "Sam", "lastName": "Spade", "companyName": "Fixit Ltd", "details": SAM},
                ],
            }
        ),
    )
    visitors = payloads.create_body(order)["details"]["visitors"]
    assert visitors == [
        {"registeredUsers": ["acme_orderer"]},
        {
            "firstName": "Victor",
            "lastName": "Viewer",
            "companyName": "Acme Corp",
            "details": [{"type": "EMAIL", "value": "viewer@acme.example"}],
        },
        {"firstName": "Sam", "lastName": "Spade", "companyName": "Fixit Ltd", "details": SAM},
    ]


def test_a_visitors_phone_stored_as_phone_is_sent_as_mobile_a_contacts_phone_stays_phone(orderer, make_body):
    nina = {**NINA, "details": [*NINA["details"], {"type": "PHONE", "value": "+31 20 555 0101"}]}
    visitor = {"firstName": "Sam", "lastName": "Spade", "companyName": "Fixit Ltd", "details": SAM}
    order = _order(orderer, make_body(contacts=[nina], details={**make_body()["details"], "visitors": [visitor]}))
    # Visitors the wizard stored with their phone as PHONE, before visitors took only MOBILE or EMAIL.
    order.visitors.update(
        details=[{"type": "PHONE", "value": "+31 6 1234 5678"}, {"type": "EMAIL", "value": "sam@fixit.example"}]
    )
    body = payloads.create_body(order)
    assert body["details"]["visitors"][0]["details"] == [
        {"type": "MOBILE", "value": "+31 6 1234 5678"},
        {"type": "EMAIL", "value": "sam@fixit.example"},
    ]
    assert {"type": "PHONE", "value": "+31 20 555 0101"} in body["contacts"][0]["details"]


def test_an_upstream_username_set_later_is_what_the_next_body_carries(orderer, viewer, make_body):
    order = _order(
        orderer, make_body(details={**make_body()["details"], "visitors": [{"registeredUsers": ["viewer"]}]})
    )
    viewer.upstream_username = "acme_viewer"
    viewer.save()
    order = Order.objects.get(pk=order.pk)
    assert payloads.create_body(order)["details"]["visitors"] == [{"registeredUsers": ["acme_viewer"]}]


def test_a_typed_in_technical_contact_is_sent_without_company_name(orderer, make_body):
    order = _order(orderer, make_body(contacts=[NINA]))
    nina = {
        "firstName": "Nina",
        "lastName": "Night",
        "type": "TECHNICAL",
        "availability": "ANYTIME",
        "timezone": "Europe/Amsterdam",
        "details": [{"type": "EMAIL", "value": "nina@fixit.example"}],
    }
    # The ordering user stays the notification contact.
    assert payloads.create_body(order)["contacts"] == [
        nina,
        {"registeredUsers": ["acme_orderer"], "type": "NOTIFICATION"},
    ]
    # Availability and time zone are optional upstream: sent only when the order has them.
    order.contacts.filter(contact_type="TECHNICAL").update(availability="", timezone="")
    technical = payloads.create_body(order)["contacts"][0]
    assert technical == {k: v for k, v in nina.items() if k not in ("availability", "timezone")}


def test_registered_contacts_with_and_without_upstream_usernames(orderer, make_body):
    order = _order(
        orderer,
        make_body(
            contacts=[
                {"registeredUsers": ["viewer"], "type": "TECHNICAL", "availability": "WORK_HOURS"},
                {"registeredUsers": ["technician"], "type": "NOTIFICATION"},
                {"registeredUsers": ["orderer"], "type": "NOTIFICATION"},
            ]
        ),
    )
    contacts = payloads.create_body(order)["contacts"]
    assert {"registeredUsers": ["acme_technician"], "type": "NOTIFICATION"} in contacts
    assert {"registeredUsers": ["acme_orderer"], "type": "NOTIFICATION"} in contacts
    # The viewer has no upstream username: a technical contact is sent by name and email instead.
    assert {
        "firstName": "Victor",
        "lastName": "Viewer",
        "type": "TECHNICAL",
        "availability": "WORK_HOURS",
        "details": [{"type": "EMAIL", "value": "viewer@acme.example"}],
    } in contacts
    assert len(contacts) == 3


def test_a_notification_contact_without_upstream_username_is_left_out(orderer, viewer, make_body):
    order = _order(orderer, make_body(contacts=[{"registeredUsers": ["viewer"], "type": "NOTIFICATION"}]))
    # The ordering user is the technical contact by default; the viewer is left out.
    assert payloads.create_body(order)["contacts"] == [{"registeredUsers": ["acme_orderer"], "type": "TECHNICAL"}]
    # Still a contact of the order: the portal's own emails reach them.
    assert ("viewer@acme.example", "Victor Viewer") in [(r.email, r.name) for r in notifications.recipients(order)]


def test_bodies_leave_out_empty_fields_instead_of_sending_nulls(orderer, make_body):
    data = make_body()
    data["details"]["cages"] = [{"id": "DC2:01:123456", "accountNumber": "1234567890"}]
    order = _order(orderer, data)
    body = payloads.create_body(order)
    assert _nulls(body) == [] and "null" not in json.dumps(body)
    assert body["details"]["cages"] == [{"id": "DC2:01:123456", "accountNumber": "1234567890"}]
    assert not {"purchaseOrder", "attachments"} & set(body)
    assert body["contacts"] == [
        {"registeredUsers": ["acme_orderer"], "type": "TECHNICAL"},
        {"registeredUsers": ["acme_orderer"], "type": "NOTIFICATION"},
    ]
    assert _nulls(payloads.modify_body(order)) == []


def test_purchase_order_and_attachments_carry_the_upstream_ids(orderer, make_body):
    data = make_body(purchaseOrder={"type": "EXISTING", "number": "PO-1091238010", "amount": "2020"})
    data["details"]["cages"] = [{"id": "DC2:01:123457", "accountNumber": "1234567891"}]  # a PO-bearing account
    order = _order(orderer, data)
    uploaded = [{"id": "c77c5f58-a7ea-4e88-9fc4-1a2900027425", "name": "error-log.txt"}]
    body = payloads.create_body(order, uploaded, "8d0bef9c-cca9-11ea-87d0-0242ac130003")
    assert body["purchaseOrder"] == {
        "type": "EXISTING",
        "number": "PO-1091238010",
        "amount": 2020,
        "attachmentId": "8d0bef9c-cca9-11ea-87d0-0242ac130003",
    }
    assert body["attachments"] == uploaded


def test_the_modify_body_names_only_notification_contacts_known_upstream(orderer, make_body):
    order = _order(
        orderer,
        make_body(
            contacts=[
                {"registeredUsers": ["viewer"], "type": "NOTIFICATION"},
                {"registeredUsers": ["technician"], "type": "NOTIFICATION"},
                NINA,
            ]
        ),
    )
    body = payloads.modify_body(order)
    assert body["contacts"] == [{"registeredUsers": ["acme_technician"], "type": "NOTIFICATION"}]
    assert set(body["details"]) == {"visitStartDateTime", "visitEndDateTime", "openCabinet"}
    # A visit under way: only its end and the flag can change; a start in the past is not sent.
    during = payloads.modify_body(order, now=order.visit_start + (order.visit_end - order.visit_start) / 2)
    assert set(during["details"]) == {"visitEndDateTime", "openCabinet"}


def test_a_notification_contact_s_availability_given_in_a_change_reaches_the_upstream(sandbox, orderer, make_body):
    order = _order(orderer, make_body())
    assert submission.order_submit(order_pk=order.pk).result.startswith("submitted as ")
    api = Api(orderer)
    change = {"contacts": [{"registeredUsers": ["technician"], "type": "NOTIFICATION", "availability": "ANYTIME"}]}
    assert api.patch(f"/colocations/v2/orders/workVisits/{order.order_id}", change).status_code == 202
    added = api.get(f"/colocations/v2/orders/{order.order_id}").json()["contacts"][-1]
    assert (added["registeredUser"], added["availability"]) == ("technician", "ANYTIME")

    order.refresh_from_db()
    assert submission.order_send_change(order_pk=order.pk, version=order.version).result == "sent"
    [patch] = sandbox.requests("PATCH")
    assert patch["body"]["contacts"] == [
        {"registeredUsers": ["acme_orderer", "acme_technician"], "type": "NOTIFICATION", "availability": "ANYTIME"}
    ]
    # The data centre's order (Orders v2) holds the technician as reachable at any time, as the portal does.
    with sandbox.client() as upstream:
        held = upstream.get(f"/colocations/v2/orders/{order.upstream_order_id}").json()["contacts"]
    assert {"registeredUser": "acme_technician", "type": "NOTIFICATION", "availability": "ANYTIME"} in held


def test_the_modify_body_carries_the_availability_and_zone_of_the_latest_notification_contact(orderer, make_body):
    technician = {
        "registeredUsers": ["technician"],
        "type": "NOTIFICATION",
        "availability": "ANYTIME",
        "timezone": "Europe/Amsterdam",
    }
    order = _order(orderer, make_body(contacts=[technician]))
    assert payloads.modify_body(selectors.order_with_parts(order.pk))["contacts"] == [
        {
            "registeredUsers": ["acme_technician"],
            "type": "NOTIFICATION",
            "availability": "ANYTIME",
            "timezone": "Europe/Amsterdam",
        }
    ]
    # One entry for all: the contact added last decides; a value it does not have is left out, not null.
    added = {"registeredUsers": ["orderer"], "type": "NOTIFICATION", "availability": "WORK_HOURS"}
    services.order_modify(user=orderer, order_id=order.order_id, data={"contacts": [added]})
    body = payloads.modify_body(selectors.order_with_parts(order.pk))
    assert body["contacts"] == [
        {"registeredUsers": ["acme_technician", "acme_orderer"], "type": "NOTIFICATION", "availability": "WORK_HOURS"}
    ]
    assert _nulls(body) == []


def test_the_cancel_body():
    assert payloads.cancel_body("Visit no longer needed.") == {"reason": "Visit no longer needed."}
    assert payloads.cancel_body("Wrong cage.", [{"id": "a1", "name": "note.txt"}]) == {
        "reason": "Wrong cage.",
        "attachments": [{"id": "a1", "name": "note.txt"}],
    }


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_upstream_username_is_none_so_many_users_can_have_none(users, blank):
    for name in ("viewer", "reviewer"):
        users[name].upstream_username = blank
        users[name].save()
    assert User.objects.filter(username__in=["viewer", "reviewer"], upstream_username__isnull=True).count() == 2
