"""The work-visit rules, as pure functions: no database needed.

The bodies are checked as the JSON API checks them: their structure by the API's serializers
(workvisits/api/structure.py), then the rules on what is well formed.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workvisits import rules
from workvisits.api import schemas, structure
from workvisits.choices import ContactType

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CTX = rules.OrderingContext(
    now=NOW,
    cages={
        "DC2:01:123456": rules.CageFacts(
            "DC2:01:123456",
            "DC2",
            {
                "1234567890": rules.AccountFacts("1234567890", cabinets=frozenset({"DC2:01:123456:0101"})),
            },
        ),
        "DC2:01:123457": rules.CageFacts(
            "DC2:01:123457",
            "DC2",
            {
                "1234567890": rules.AccountFacts("1234567890"),
                "1234567891": rules.AccountFacts(
                    "1234567891", is_po_bearing=True, cabinets=frozenset({"DC2:01:123457:0201"})
                ),
            },
        ),
        "AM1:02:200100": rules.CageFacts(
            "AM1:02:200100",
            "AM1",
            {
                "2000000001": rules.AccountFacts("2000000001"),
            },
        ),
        "AM1:02:200101": rules.CageFacts(
            "AM1:02:200101",
            "AM1",
            {
                "2000000002": rules.AccountFacts("2000000002", is_credit_hold=True),
            },
        ),
        "DC2:01:999999": rules.CageFacts("DC2:01:999999", "DC2", {"1234567890": rules.AccountFacts("1234567890")}),
    },
    orderable=frozenset({"DC2:01:123456", "DC2:01:123457", "AM1:02:200100", "AM1:02:200101"}),
    usernames=frozenset({"orderer", "viewer", "technician"}),
    attachments={
        "a1": rules.AttachmentFacts("a1", "plan.pdf"),
        "used": rules.AttachmentFacts("used", "x.pdf", in_use=True),
    },
)


def body(start=NOW + timedelta(days=1), length=timedelta(hours=4), **overrides):
    data = {
        "description": "Replace a failed power supply.",
        "customerReferenceId": "REF-1",
        "details": {
            "cages": [{"id": "DC2:01:123456", "accountNumber": "1234567890", "cabinetId": "DC2:01:123456:0101"}],
            "visitStartDateTime": rules.format_datetime(start),
            "visitEndDateTime": rules.format_datetime(start + length),
            "visitors": [{"registeredUsers": ["orderer"]}],
        },
    }
    details = overrides.pop("details", {})
    data["details"].update(details)
    data.update(overrides)
    return data


def validate_create(data, ctx=CTX):
    """The create body's structure errors and the rules' errors, in check order, and the clean order."""
    found, _ = structure.check(schemas.CreateRequestSerializer, data)
    errors, clean = rules.validate_create(data, ctx, "orderer", rules.Shape(e.path for e in found))
    return structure.in_check_order(schemas.CreateRequestSerializer, found, errors), clean


def validate_modify(data, ctx=CTX, order=None):
    found, _ = structure.check(schemas.ModifyRequestSerializer, data)
    errors, change = rules.validate_modify(data, ctx, order or FACTS, rules.Shape(e.path for e in found))
    return structure.in_check_order(schemas.ModifyRequestSerializer, found, errors), change


def validate_cancel(data):
    return structure.check(schemas.CancelRequestSerializer, data)


def errors_of(data, ctx=CTX):
    errors, _ = validate_create(data, ctx)
    return {e.path: e for e in errors}


def test_a_valid_order_passes_and_is_cleaned():
    errors, clean = validate_create(body())
    assert errors == []
    assert clean.cages[0].cabinet_id == "DC2:01:123456:0101"
    assert clean.visit_start == NOW + timedelta(days=1)
    # The ordering user becomes the technical and the notification contact by default.
    assert [(c.username, c.type) for c in clean.contacts] == [
        ("orderer", ContactType.TECHNICAL),
        ("orderer", ContactType.NOTIFICATION),
    ]


@pytest.mark.parametrize("text, ok", [("x" * 9, False), ("x" * 10, True), ("x" * 4000, True), ("x" * 4001, False)])
def test_description_is_10_to_4000_characters(text, ok):
    assert ("description" not in errors_of(body(description=text))) is ok


@pytest.mark.parametrize("given", ["absent", None, "", "   "])
def test_a_description_is_optional_and_stored_empty(given):
    """UPSTREAM_WIRE "Create": not required; only a description given is held to 10..4000 characters."""
    data = body()
    if given == "absent":
        del data["description"]
    else:
        data["description"] = given
    errors, clean = validate_create(data)
    assert errors == [] and clean.description == ""


def test_a_visitor_s_detail_is_email_or_mobile_a_contact_s_may_be_a_phone():
    """The rule the wizard and the admin meet too (no API structure check before it)."""
    phone = {"type": "PHONE", "value": "+31 20 123 4567"}
    visitor = {"firstName": "Bo", "lastName": "Vis", "companyName": "Acme", "details": [phone]}
    errors = errors_of(body(details={**body()["details"], "visitors": [visitor]}))
    assert errors["details.visitors[0].details[0].type"].code == rules.INVALID
    assert "MOBILE" in errors["details.visitors[0].details[0].type"].message
    contact = {"type": "TECHNICAL", "firstName": "Ann", "lastName": "Tech"}
    contact["details"] = [{"type": "EMAIL", "value": "ann@example.com"}, phone, {**phone, "type": "MOBILE"}]
    assert errors_of(body(contacts=[contact])) == {}


@pytest.mark.parametrize("ref, ok", [("", False), ("R", True), ("R" * 40, True), ("R" * 41, False)])
def test_customer_reference_is_1_to_40_characters(ref, ok):
    assert ("customerReferenceId" not in errors_of(body(customerReferenceId=ref))) is ok


def test_wrong_types_name_the_property():
    errors = errors_of(body(description=42, details={"openCabinet": "yes", "cages": "DC2"}))
    assert "must be a string" in errors["description"].message
    assert errors["details.openCabinet"].code == rules.INVALID
    assert "array" in errors["details.cages"].message


def test_unknown_properties_are_refused_by_path():
    errors = errors_of(body(colour="red", details={"cages": [{"id": "DC2:01:123456", "rack": "1"}]}))
    assert "remove it" in errors["colour"].message
    assert "details.cages[0].rack" in errors


def test_details_are_required():
    data = body()
    del data["details"]
    assert errors_of(data)["details"].code == rules.MISSING


def test_cage_id_is_required_with_the_seed_message():
    error = errors_of(body(details={"cages": [{"accountNumber": "1234567890"}]}))["details.cages[0].id"]
    assert error.code == rules.MISSING
    assert error.message.startswith("details.cages[0].id is required")


def test_at_least_one_cage():
    assert errors_of(body(details={"cages": []}))["details.cages"].code == rules.MISSING


def test_unknown_cage_and_cage_without_permission():
    errors = errors_of(body(details={"cages": [{"id": "XX:1"}]}))
    assert errors["details.cages[0].id"].code == rules.INVALID
    errors = errors_of(body(details={"cages": [{"id": "DC2:01:999999"}]}))
    assert errors["details.cages[0].id"].code == rules.NO_CREATE_PERMISSION
    assert "ordering permission" in errors["details.cages[0].id"].message


def test_account_and_cabinet_must_belong_to_the_cage():
    errors = errors_of(
        body(
            details={
                "cages": [{"id": "DC2:01:123456", "accountNumber": "2000000001", "cabinetId": "AM1:02:200100:0001"}]
            }
        )
    )
    assert "does not belong to cage" in errors["details.cages[0].accountNumber"].message
    errors = errors_of(body(details={"cages": [{"id": "DC2:01:123456", "cabinetId": "DC2:01:123457:0201"}]}))
    assert "does not belong" in errors["details.cages[0].cabinetId"].message


def test_account_is_taken_from_a_single_account_cage_and_asked_for_otherwise():
    assert errors_of(body(details={"cages": [{"id": "DC2:01:123456"}]})) == {}
    error = errors_of(body(details={"cages": [{"id": "DC2:01:123457"}]}))["details.cages[0].accountNumber"]
    assert error.code == rules.MISSING and "several accounts" in error.message


def test_a_cabinet_named_without_an_account_gives_the_cage_its_account():
    # Cabinet 0201 of the two-account cage is billed to 1234567891, which is PO-bearing: the order is
    # judged as that account's (a purchase order is asked for), and no account is asked for.
    errors = errors_of(body(details={"cages": [{"id": "DC2:01:123457", "cabinetId": "DC2:01:123457:0201"}]}))
    assert set(errors) == {"purchaseOrder"} and "1234567891" in errors["purchaseOrder"].message


def test_cages_of_one_order_share_an_ibx_and_appear_once():
    errors = errors_of(body(details={"cages": [{"id": "DC2:01:123456"}, {"id": "AM1:02:200100"}]}))
    assert "same IBX" in errors["details.cages[1].id"].message
    errors = errors_of(body(details={"cages": [{"id": "DC2:01:123456"}, {"id": "DC2:01:123456"}]}))
    assert "twice" in errors["details.cages[1].id"].message


def test_credit_hold_account_cannot_order():
    error = errors_of(body(details={"cages": [{"id": "AM1:02:200101"}]}))["details.cages[0].accountNumber"]
    assert "credit hold" in error.message


def test_po_bearing_account_needs_a_purchase_order_other_than_exempted():
    cages = {"cages": [{"id": "DC2:01:123457", "accountNumber": "1234567891"}]}
    assert errors_of(body(details=cages))["purchaseOrder"].code == rules.MISSING
    errors = errors_of(body(details=cages, purchaseOrder={"type": "EXEMPTED"}))
    assert "EXEMPTED is not allowed" in errors["purchaseOrder.type"].message
    assert errors_of(body(details=cages, purchaseOrder={"type": "NEW"})) == {}


def test_purchase_order_type_and_existing_number():
    assert "purchaseOrder.type" in errors_of(body(purchaseOrder={"type": "LATER"}))
    assert errors_of(body(purchaseOrder={"type": "EXISTING"}))["purchaseOrder.number"].code == rules.MISSING
    # The seed sends the number as a JSON number.
    assert (
        errors_of(
            body(
                purchaseOrder={
                    "type": "EXISTING",
                    "number": 1091238010,
                    "amount": "2020",
                    "startDate": "2020-05-22",
                    "endDate": "2021-05-22",
                }
            )
        )
        == {}
    )
    assert "purchaseOrder.endDate" in errors_of(
        body(purchaseOrder={"type": "NEW", "startDate": "2021-05-22", "endDate": "2020-05-22"})
    )


def test_visit_end_after_start():
    errors = errors_of(body(length=timedelta(0)))
    assert "after the visit start" in errors["details.visitEndDateTime"].message


def test_start_in_the_past_is_refused():
    errors = errors_of(body(start=NOW - timedelta(minutes=1)))
    assert "in the past" in errors["details.visitStartDateTime"].message


def test_longer_than_14_days_points_to_security_access():
    error = errors_of(body(length=timedelta(days=15)))["details.visitEndDateTime"]
    assert "Security Access" in error.message


@given(st.integers(min_value=0, max_value=int(rules.MAX_START_AHEAD.total_seconds())))
def test_exactly_14_days_accepted_and_one_second_more_refused(offset_seconds):
    start = NOW + timedelta(seconds=offset_seconds)
    assert rules.schedule_errors(start, start + timedelta(days=14), NOW) == []
    errors = rules.schedule_errors(start, start + timedelta(days=14, seconds=1), NOW)
    assert [e.message for e in errors] == [rules.SECURITY_ACCESS_HINT]


@pytest.mark.parametrize(
    "zone, local_start",
    [
        ("America/New_York", datetime(2026, 3, 1, 9, 0)),  # spans the March change (8 March 2026)
        ("America/New_York", datetime(2026, 10, 25, 9, 0)),  # spans the November change (1 Nov 2026)
        ("Europe/Amsterdam", datetime(2026, 3, 20, 9, 0)),  # spans 29 March 2026
        ("Europe/Amsterdam", datetime(2026, 10, 20, 9, 0)),  # spans 25 October 2026
    ],
)
def test_the_14_day_rule_counts_real_time_across_daylight_saving_changes(zone, local_start):
    tz = ZoneInfo(zone)
    start = local_start.replace(tzinfo=tz).astimezone(UTC)
    # Fourteen days later on the wall clock is an hour more or less than 14 real days.
    wall_end = (local_start + timedelta(days=14)).replace(tzinfo=tz).astimezone(UTC)
    real = wall_end - start
    assert real != timedelta(days=14)
    now = start - timedelta(days=1)
    assert bool(rules.schedule_errors(start, wall_end, now)) is (real > timedelta(days=14))
    assert rules.schedule_errors(start, start + timedelta(days=14), now) == []


@settings(max_examples=200)
@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 12, 31),
        timezones=st.sampled_from([ZoneInfo("America/New_York"), ZoneInfo("Europe/Amsterdam")]),
    ),
    st.integers(min_value=-5, max_value=5),
)
def test_length_rule_is_exact_at_the_boundary_in_the_demo_zones(local_start, delta_seconds):
    start = local_start.astimezone(UTC)
    end = start + timedelta(days=14, seconds=delta_seconds)
    refused = bool(rules.schedule_errors(start, end, start))
    assert refused is (delta_seconds > 0)


@pytest.mark.parametrize("text", ["2026-03-02T09:15:44Z", "2026-03-02'T'09:15:44Z", "2026-03-02T10:15:44+01:00"])
def test_datetimes_in_utc_and_the_seed_quirk_are_understood(text):
    assert rules.parse_datetime(text) == datetime(2026, 3, 2, 9, 15, 44, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-03-02", "2026-03-02T09:15:44", "tomorrow", "", "2026-13-02T09:15:44Z"])
def test_unusable_datetimes_are_refused(text):
    assert rules.parse_datetime(text) is None
    errors = errors_of(body(details={"visitStartDateTime": text}))
    assert "ISO 8601" in errors["details.visitStartDateTime"].message or text == ""


def test_at_least_one_visitor_and_at_most_fifty():
    assert errors_of(body(details={"visitors": []}))["details.visitors"].code == rules.MISSING
    many = [
        {
            "firstName": f"V{i}",
            "lastName": "Doe",
            "companyName": "Acme",
            "details": [{"type": "EMAIL", "value": f"v{i}@example.com"}],
        }
        for i in range(51)
    ]
    assert "at most 50" in errors_of(body(details={"visitors": many}))["details.visitors"].message
    assert errors_of(body(details={"visitors": many[:50]})) == {}


def test_registered_visitors_must_be_users_of_the_organization_at_most_ten_per_entry():
    errors = errors_of(body(details={"visitors": [{"registeredUsers": ["john_doe1"]}]}))
    assert "not a user of your organization" in errors["details.visitors[0].registeredUsers[0]"].message
    eleven = {"registeredUsers": ["orderer"] * 11}
    assert (
        "at most 10" in errors_of(body(details={"visitors": [eleven]}))["details.visitors[0].registeredUsers"].message
    )


def test_non_registered_visitor_needs_names_and_company_and_details_are_optional():
    errors = errors_of(body(details={"visitors": [{"firstName": "Jane", "details": []}]}))
    assert set(errors) == {"details.visitors[0].lastName", "details.visitors[0].companyName"}
    assert errors_of(body(details={"visitors": [{"firstName": "J", "lastName": "D", "companyName": "C"}]})) == {}
    three = [
        {"type": "EMAIL", "value": "a@b.co"},
        {"type": "PHONE", "value": "+1 555 0100"},
        {"type": "MOBILE", "value": "+1 555 0101"},
    ]
    errors = errors_of(
        body(details={"visitors": [{"firstName": "J", "lastName": "D", "companyName": "C", "details": three}]})
    )
    assert "at most 2" in errors["details.visitors[0].details"].message
    errors = errors_of(
        body(
            details={
                "visitors": [
                    {
                        "firstName": "J",
                        "lastName": "D",
                        "companyName": "C",
                        "details": [{"type": "EMAIL", "value": "not-an-email"}],
                    }
                ]
            }
        )
    )
    assert "email address" in errors["details.visitors[0].details[0].value"].message


def test_duplicate_visitors_are_caught():
    errors = errors_of(body(details={"visitors": [{"registeredUsers": ["orderer"]}, {"registeredUsers": ["orderer"]}]}))
    assert "twice" in errors["details.visitors[1]"].message


def test_one_technical_contact_and_registered_notification_contacts():
    contacts = [
        {"type": "TECHNICAL", "registeredUsers": ["viewer"]},
        {"type": "TECHNICAL", "registeredUsers": ["technician"]},
    ]
    assert "only one TECHNICAL" in errors_of(body(contacts=contacts))["contacts[1]"].message
    contacts = [
        {
            "type": "NOTIFICATION",
            "firstName": "A",
            "lastName": "B",
            "companyName": "C",
            "details": [{"type": "EMAIL", "value": "a@b.co"}],
            "availability": "ANYTIME",
            "timezone": "UTC",
        }
    ]
    assert "registered users" in errors_of(body(contacts=contacts))["contacts[0]"].message
    contacts = [{"type": "SOMETIMES", "registeredUsers": ["viewer"]}]
    assert "contacts[0].type" in errors_of(body(contacts=contacts))


def test_non_registered_technical_contact_needs_names_and_an_email_not_a_company():
    person = {
        "type": "TECHNICAL",
        "firstName": "Ann",
        "lastName": "Lee",
        "details": [{"type": "EMAIL", "value": "ann@fixit.example"}],
    }
    errors, clean = validate_create(body(contacts=[person]))
    assert errors == []
    technical = [c for c in clean.contacts if c.type == ContactType.TECHNICAL]
    assert [(c.last_name, c.availability, c.timezone) for c in technical] == [("Lee", "", "")]  # the defaults
    # A companyName sent anyway is accepted and not kept.
    errors, clean = validate_create(body(contacts=[{**person, "companyName": "Fixit"}]))
    assert errors == [] and [c.company_name for c in clean.contacts if c.last_name == "Lee"] == [""]
    phone_only = {**person, "details": [{"type": "PHONE", "value": "+31 20 555 0101"}]}
    error = errors_of(body(contacts=[phone_only]))["contacts[0].details"]
    assert error.code == rules.MISSING and "email" in error.message
    # A bad phone and no email: both at once, so one correction is enough.
    bad_phone = {**person, "details": [{"type": "PHONE", "value": "call me"}]}
    errors = errors_of(body(contacts=[bad_phone]))
    assert set(errors) == {"contacts[0].details[0].value", "contacts[0].details"}
    assert errors["contacts[0].details"].code == rules.MISSING
    # An EMAIL with a bad value is told about its value, not asked for an email.
    bad_email = {**person, "details": [{"type": "EMAIL", "value": "ann-at-fixit"}]}
    assert set(errors_of(body(contacts=[bad_email]))) == {"contacts[0].details[0].value"}
    assert set(errors_of(body(contacts=[{**person, "lastName": ""}]))) == {"contacts[0].lastName"}
    errors = errors_of(body(contacts=[{**person, "availability": "NEVER", "timezone": "Mars/Olympus"}]))
    assert "not a time zone" in errors["contacts[0].timezone"].message
    assert "WORK_HOURS or ANYTIME" in errors["contacts[0].availability"].message
    errors, clean = rules.validate_create(
        body(contacts=[{**person, "availability": "ANYTIME", "timezone": "Europe/Amsterdam"}]), CTX, "orderer"
    )
    assert errors == []
    assert [(c.availability, c.timezone) for c in clean.contacts if c.last_name == "Lee"] == [
        ("ANYTIME", "Europe/Amsterdam")
    ]


def test_attachments_must_exist_be_unused_and_at_most_five():
    errors = errors_of(body(attachments=[{"id": "nope"}, {"id": "used"}]))
    assert "upload it first" in errors["attachments[0].id"].message
    assert "another order" in errors["attachments[1].id"].message
    assert "at most 5" in errors_of(body(attachments=[{"id": "a1"}] * 6))["attachments"].message
    assert errors_of(body(attachments=[{"id": "a1", "name": "plan"}])) == {}


def test_every_error_is_reported_at_once():
    data = body(
        description="short",
        customerReferenceId="x" * 41,
        details={"cages": [{}], "visitors": [], "visitStartDateTime": "soon"},
    )
    assert {
        "description",
        "customerReferenceId",
        "details.cages[0].id",
        "details.visitors",
        "details.visitStartDateTime",
    } <= set(errors_of(data))


def test_body_must_be_an_object():
    errors, _ = validate_create([1, 2])
    assert errors[0].path == "$"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize(
    "name, head, ok",
    [
        ("photo.png", PNG, True),
        ("scan.PDF", PDF, True),
        ("notes.txt", b"Rack 12, unit 4\n", True),
        ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 30, True),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 30, True),
        ("photo.png", PDF, False),  # the name lies about the content
        ("photo.png", PNG + b"<html><script>alert(1)</script>", False),  # a PNG header followed by HTML
        ("notes.txt", b"<!DOCTYPE html><html>", False),
        ("tool.exe", b"MZ\x90\x00", False),
        ("noext", b"hello", False),
        ("notes.txt", b"bin\x00ary", False),
    ],
)
def test_attachment_type_is_checked_by_content(name, head, ok):
    errors, content_type = rules.attachment_file_errors(name, len(head), head)
    assert (errors == []) is ok
    assert bool(content_type) is ok


def test_attachment_size_limit_is_10_mb():
    errors, _ = rules.attachment_file_errors("scan.pdf", rules.MAX_ATTACHMENT_BYTES + 1, PDF)
    assert "at most 10 MB" in errors[0].message
    assert rules.attachment_file_errors("scan.pdf", rules.MAX_ATTACHMENT_BYTES, PDF)[0] == []


FACTS = rules.OrderFacts(
    status="SUBMITTED",
    visit_start=NOW + timedelta(days=1),
    visit_end=NOW + timedelta(days=1, hours=4),
    ordered_by="orderer",
    technical_usernames=frozenset({"technician"}),
)


def test_modify_accepts_the_seed_sample_with_its_quirk():
    sample = {
        "contacts": [{"registeredUsers": ["viewer"], "type": "NOTIFICATION"}],
        "details": {
            "visitStartDateTime": "2026-03-05'T'09:15:44Z",
            "visitEndDateTime": "2026-03-06'T'09:15:44Z",
            "openCabinet": False,
        },
    }
    errors, change = validate_modify(sample, CTX, FACTS)
    assert errors == []
    assert change.visit_start == datetime(2026, 3, 5, 9, 15, 44, tzinfo=UTC)
    assert change.notification_usernames == ["viewer"]


def test_modify_allows_only_its_fields_and_one_contact():
    errors, _ = validate_modify({"description": "new text here", "contacts": [{}, {}]}, CTX, FACTS)
    paths = {e.path for e in errors}
    assert {"description", "contacts"} <= paths
    errors, _ = validate_modify({"contacts": [{"registeredUsers": ["viewer"]}]}, CTX, FACTS)
    assert errors[0].path == "contacts[0].type" and errors[0].code == rules.MISSING


def test_modify_keeps_the_14_day_rule_against_the_stored_start():
    errors, _ = validate_modify(
        {"details": {"visitEndDateTime": rules.format_datetime(FACTS.visit_start + timedelta(days=15))}}, CTX, FACTS
    )
    assert errors[0].message == rules.SECURITY_ACCESS_HINT


def test_who_may_change_an_order():
    """CONTRACT "Modify": the ordering user, the technical contact, or a user who sees all the orders."""

    def may(username, sees_all=False):
        return rules.may_change_order(username, sees_all_orders=sees_all, order=FACTS)

    assert may("orderer") and may("technician")
    assert not may("viewer")
    assert may("viewer", sees_all=True)


@pytest.mark.parametrize(
    "status, open_",
    [("SUBMITTED", True), ("QUEUED", True), ("CLOSED", False), ("CANCELLED", False), ("REJECTED", False)],
)
def test_closed_orders_are_neither_modifiable_nor_cancellable(status, open_):
    assert rules.order_is_open(status) is open_


@pytest.mark.parametrize("reason, ok", [("no", False), ("Plans changed", True), ("x" * 4001, False)])
def test_cancel_reason_is_5_to_4000_characters(reason, ok):
    assert (rules.cancel_reason_errors(reason) == []) is ok


def test_cancel_body_is_a_reason_with_optional_attachments_and_line_ids():
    assert validate_cancel({"reason": "  Plans changed "}) == ([], {"reason": "Plans changed"})
    errors, clean = validate_cancel(
        {"reason": "Plans changed", "attachments": [{"id": "a1", "name": "letter"}], "lineIds": ["WV-1-1"]}
    )
    assert errors == [] and clean["attachments"] == [{"id": "a1", "name": "letter"}] and clean["lineIds"] == ["WV-1-1"]
    assert [e.path for e in validate_cancel(["Plans changed"])[0]] == ["$"]
    assert [e.path for e in validate_cancel({"reason": "Plans changed", "why": 1})[0]] == ["why"]
    assert [(e.path, e.code) for e in validate_cancel({})[0]] == [("reason", rules.MISSING)]
    assert [(e.path, e.code) for e in validate_cancel({"reason": 12345})[0]] == [("reason", rules.INVALID)]
    bad = {"reason": "Plans changed", "lineIds": ["x", 3], "attachments": [{}] * 6}
    assert [e.path for e in validate_cancel(bad)[0]] == ["attachments", "lineIds[1]"]


def test_a_work_visit_is_cancelled_whole():
    lines = ["WV-1-1", "WV-1-2"]
    assert rules.cancel_lines_errors(None, lines) == []
    assert rules.cancel_lines_errors(["WV-1-2", "WV-1-1"], lines) == []
    assert [e.path for e in rules.cancel_lines_errors(["WV-1-1"], lines)] == ["lineIds"]
    assert "as a whole" in rules.cancel_lines_errors(["WV-1-1"], lines)[0].message
    assert [e.path for e in rules.cancel_lines_errors(["WV-9-1", "WV-1-1"], lines)] == ["lineIds[0]"]


def test_review_policy_conditions():
    start = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # a Wednesday, 09:00 in New York
    kwargs = dict(
        now=start - timedelta(days=3),
        visit_start=start,
        visit_end=start + timedelta(hours=4),
        ibx_timezone="America/New_York",
        has_non_registered_visitors=False,
        purchase_order_type=None,
    )
    assert rules.review_reasons(rules.ReviewPolicy("OFF"), **kwargs) == []
    assert rules.review_reasons(rules.ReviewPolicy("ALL"), **kwargs)
    every = rules.ReviewPolicy("CONDITIONS", True, True, True, True)
    assert rules.review_reasons(every, **kwargs) == []
    assert rules.review_reasons(every, **{**kwargs, "now": start - timedelta(hours=23)})
    assert rules.review_reasons(every, **{**kwargs, "has_non_registered_visitors": True})
    assert rules.review_reasons(every, **{**kwargs, "purchase_order_type": "NEW"})
    night = start.replace(hour=2)  # 21:00 the evening before in New York
    assert rules.review_reasons(every, **{**kwargs, "visit_start": night, "visit_end": night + timedelta(hours=2)})
    saturday = start + timedelta(days=3)
    assert rules.review_reasons(
        every, **{**kwargs, "visit_start": saturday, "visit_end": saturday + timedelta(hours=2)}
    )


def test_description_rule_on_its_own_matches_the_create_body():
    errors, clean = rules.description_errors_and_clean("too short")
    assert [(e.path, e.code) for e in errors] == [("description", rules.INVALID)]
    assert errors[0].message == errors_of(body(description="too short"))["description"].message
    assert rules.description_errors_and_clean("  Replace the PSU.  ") == ([], "Replace the PSU.")
    assert rules.description_errors_and_clean(None) == ([], "")  # optional


def test_customer_reference_rule_on_its_own_is_optional_and_at_most_40():
    assert rules.customer_reference_errors_and_clean(None) == ([], "")
    errors, _ = rules.customer_reference_errors_and_clean("x" * 41)
    assert errors[0].path == "customerReferenceId" and "1 to 40" in errors[0].message


@pytest.mark.parametrize("key, path", [("", '$[""]'), ("a b", '$["a b"]'), ("x.y", '$["x.y"]')])
def test_odd_unknown_keys_still_get_a_path(key, path):
    errors = errors_of(body(**{key: 1}))
    assert path in errors and errors[path].message.startswith(path)
