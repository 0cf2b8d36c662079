"""What a person reads: no JSON path in any page after any wizard error, names instead of indexes,
upstream reasons in words, and times in the IBX's zone with the offset of the visit's own date."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.test_web_wizard import CONTACTS, DETAILS, all_steps, local, schedule, shown, visitors, walk
from workvisits import rules, services
from workvisits.choices import EventKind
from workvisits.web.messages import Names, humanize, reason_words

# A path of the create body, or one of its property names, as the API would write it.
JSON_PATH = re.compile(
    r"\b(?:details|contacts|attachments|purchaseOrder)(?:\.[A-Za-z]+|\[\d+\])"
    r"|\b(?:visitStartDateTime|visitEndDateTime|accountNumber|cabinetId|registeredUsers|firstName|lastName"
    r"|companyName|customerReferenceId|openCabinet|attachmentId|WORK_HOURS|ANYTIME)\b"
)


class _Text(HTMLParser):
    """The text a person sees: no tags, attributes, scripts or templates."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(response) -> str:
    parser = _Text()
    parser.feed(response.content.decode())
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def orderer_client(client, orderer):
    client.force_login(orderer)
    return client


PERSON = {"first_name": "Jane", "last_name": "Doe", "company_name": "Contoso", "email": "jane@contoso.example"}
PO_LOCATION = {
    "location-ibx": "DC2",
    "location-cages": ["DC2:01:123457"],
    "location-account_DC2_01_123457": "1234567891",
}
# Every error the wizard's steps can show, as (name, steps, step that fails, field id, words it must say).
CASES = [
    ("no cage", {"location": {"location-ibx": "DC2"}}, "location", "id_location-cages", "Give at least one"),
    (
        "credit hold",
        {
            "location": {
                "location-ibx": "AM1",
                "location-cages": ["AM1:02:200101"],
                "location-account_AM1_02_200101": "2000000002",
            }
        },
        "location",
        "id_location-account_AM1_02_200101",
        "Cage AM1:02:200101: account 2000000002 is on credit hold",
    ),
    (
        "foreign cabinet",
        {
            "location": {
                **PO_LOCATION,
                "location-account_DC2_01_123457": "1234567890",
                "location-cabinet_DC2_01_123457": "DC2:01:123457:0201",
            }
        },
        "location",
        "id_location-cabinet_DC2_01_123457",
        "Cage DC2:01:123457: cabinet DC2:01:123457:0201 does not belong",
    ),
    (
        "start in the past",
        {"schedule": schedule(local(-1, 9), local(1, 9))},
        "schedule",
        "id_schedule-start",
        "The visit start is in the past",
    ),
    (
        "end before start",
        {"schedule": schedule(local(2, 9), local(1, 9))},
        "schedule",
        "id_schedule-end",
        "The visit end must be after the visit start",
    ),
    ("15 days", {"schedule": schedule(local(1, 9), local(16, 9))}, "schedule", "id_schedule-end", "Security Access"),
    ("no visitor", {"visitors": visitors(registered=())}, "visitors", None, "Give at least one of the visitors."),
    (
        "typed-in without company",
        {"visitors": visitors(people=[{**PERSON, "company_name": ""}])},
        "visitors",
        "id_visitors-0-company_name",
        "The company of Person 1 (Jane Doe) is missing",
    ),
    (
        "two addresses in one",
        {"visitors": visitors(people=[{**PERSON, "email": "x,victim@corp.example"}])},
        "visitors",
        "id_visitors-0-email",
        "The email of Person 1 (Jane Doe) is not an email address",
    ),
    (
        "the same person twice",
        {"visitors": visitors(registered=(), people=[PERSON, PERSON])},
        "visitors",
        None,
        "Person 2 (Jane Doe): Jane Doe is listed twice",
    ),
    (
        "technical contact typed in without an email address",
        {
            "contacts": {
                **CONTACTS,
                "contacts-technical": "person",
                "contacts-tech_first_name": "Nina",
                "contacts-tech_last_name": "Night",
                "contacts-tech_company_name": "Fixit",
                "contacts-tech_phone": "+31 20 555 0100",
            }
        },
        "contacts",
        "id_contacts-tech_email",
        "The email address of the technical contact is missing: give their email address.",
    ),
    (
        "not a time zone",
        {"contacts": {**CONTACTS, "contacts-timezone": "Mars/Olympus"}},
        "contacts",
        "id_contacts-timezone",
        "The technical contact's time zone 'Mars/Olympus' is not a time zone; choose one from the list.",
    ),
    (
        "short description",
        {"details": {**DETAILS, "details-description": "Swap"}},
        "details",
        "id_details-description",
        "The description must be 10 to 4000 characters long",
    ),
    (
        "long reference",
        {"details": {**DETAILS, "details-customer_reference": "R" * 41}},
        "details",
        "id_details-customer_reference",
        "Your reference must be 1 to 40 characters long",
    ),
    (
        "PO needed",
        {"location": PO_LOCATION},
        "details",
        "id_details-po_type",
        "account 1234567891 requires a purchase order; choose a new or an existing purchase order",
    ),
    (
        "existing PO without number",
        {"location": PO_LOCATION, "details": {**DETAILS, "details-po_type": "EXISTING"}},
        "details",
        "id_details-po_number",
        "an existing purchase order needs its number",
    ),
]


@pytest.mark.parametrize(("name", "overrides", "step", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_every_wizard_error_is_said_in_words_at_its_field(orderer_client, name, overrides, step, field, words):
    failed, response = walk(orderer_client, all_steps(**overrides))
    assert failed == step
    text = visible_text(response)
    assert words in (unescape(shown(response, field)) if field else text)
    assert not JSON_PATH.search(text), JSON_PATH.search(text).group(0)
    # A reload of the step shows the same: what was typed, its errors, and still no path.
    again = orderer_client.get(reverse("wizard_step", kwargs={"step": step}))
    reloaded = visible_text(again)
    assert words in (unescape(shown(again, field)) if field else reloaded)
    assert not JSON_PATH.search(reloaded)


def test_person_1_is_the_first_row_typed_in_whatever_was_picked_above(orderer_client):
    people = [PERSON, {**PERSON, "first_name": "Joe", "email": "not-an-address"}]
    failed, response = walk(
        orderer_client, all_steps(visitors=visitors(registered=("orderer", "technician"), people=people))
    )
    assert failed == "visitors"
    assert "The email of Person 2 (Joe Doe) is not an email address" in shown(response, "id_visitors-1-email")
    assert "Person 4" not in visible_text(response)  # the body's index (two registered users first) is not shown


def test_a_rule_broken_only_when_placing_is_shown_in_words_at_its_step(orderer_client, orderer):
    """The cage's grant is withdrawn after the location step: the service's refusal names the cage."""
    walk(orderer_client, all_steps()[:5])
    orderer.ordering_grants.all().delete()
    from workvisits.models import IBX, OrderingGrant

    OrderingGrant.objects.create(user=orderer, ibx=IBX.objects.get(code="AM1"))
    response = orderer_client.get(reverse("wizard_step", kwargs={"step": "finish"}), follow=True)
    text = visible_text(response)
    assert "Step 1 of 6" in text
    assert not JSON_PATH.search(text)


def test_upstream_reasons_are_said_in_words_on_the_order_page_and_in_the_email(orderer_client, orderer, make_body):
    from django.core import mail

    from workvisits import notifications

    order = services.order_create(user=orderer, data=make_body())
    reasons = [
        {
            "property": "details.cages[0].accountNumber",
            "reason": "details.cages[0].accountNumber: account 1234567890 is on credit hold.",
        },
        {"property": "details.visitors[0].firstName", "reason": "Does not match the photo ID on file."},
    ]
    services.order_change_status(
        order_pk=order.pk,
        to_status="REJECTED",
        kind=EventKind.REJECTED,
        note="The data centre refused the order.",
        rejection_reasons=reasons,
    )
    page = orderer_client.get(reverse("order_detail", kwargs={"order_id": order.order_id}))
    text = visible_text(page)
    assert "Why the work visit was rejected" in text
    assert "Cage DC2:01:123456: account 1234567890 is on credit hold." in text
    assert "The first name of visitor Olivia Orderer: Does not match the photo ID on file." in text
    assert not JSON_PATH.search(text)
    notifications.notify_order(order.pk)
    body = mail.outbox[0].body
    assert "Cage DC2:01:123456: account 1234567890 is on credit hold." in body
    assert not JSON_PATH.search(body)
    assert body.count("is on credit hold") == 1  # the reason once


def test_a_summer_reschedule_is_noted_in_edt_with_its_offset(orderer_client, orderer, make_body):
    july = datetime(datetime.now(UTC).year + 1, 7, 14, 13, 0, tzinfo=UTC)  # 09:00 EDT
    order = services.order_create(user=orderer, data=make_body(start=july))
    window = {
        "visitStartDateTime": rules.format_datetime(july + timedelta(hours=1)),
        "visitEndDateTime": rules.format_datetime(july + timedelta(hours=5)),
    }
    services.order_modify(user=orderer, order_id=order.order_id, data={"details": window})
    note = order.events.get(kind=EventKind.MODIFIED).note
    assert "10:00 EDT – 14:00 EDT (America/New_York)" in note and "Z" not in note.replace("America", "")
    page = visible_text(orderer_client.get(reverse("order_detail", kwargs={"order_id": order.order_id})))
    assert "America/New_York (EDT, UTC-04:00)" in page  # the offset of the visit's date, not of today's


def test_the_mapping_names_what_each_path_points_at():
    names = Names(cages=["DC2:01:123456"], visitors=["Person 1 (Jane Doe)"], visitor_details=[["EMAIL", "PHONE"]])
    assert (
        humanize(
            "details.visitors[0].details[1].value",
            "details.visitors[0].details[1].value is not a phone number; use digits.",
            names,
        )
        == "The phone of Person 1 (Jane Doe) is not a phone number; use digits."
    )
    assert reason_words({"property": "", "reason": "The IBX is closed that day."}) == "The IBX is closed that day."
    assert reason_words({"property": "details.visitStartDateTime", "reason": "The IBX is closed then."}) == (
        "The visit start: The IBX is closed then."
    )
