"""The work-visit wizard, step by step, through the Django test client."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from workvisits import rules, services
from workvisits.choices import OrderStatus
from workvisits.models import Attachment, Order

NY = ZoneInfo("America/New_York")


def step_url(step):
    return reverse("wizard_step", kwargs={"step": step})


def local(days=1, hour=9, zone=NY):
    day = (timezone.now().astimezone(zone) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0).strftime("%Y-%m-%dT%H:%M")


LOCATION = {
    "location-ibx": "DC2",
    "location-cages": ["DC2:01:123456"],
    "location-account_DC2_01_123456": "1234567890",
    "location-cabinet_DC2_01_123456": "DC2:01:123456:0101",
}


def schedule(start=None, end=None, open_cabinet=False):
    data = {"schedule-start": start or local(1, 9), "schedule-end": end or local(1, 17)}
    if open_cabinet:
        data["schedule-open_cabinet"] = "on"
    return data


def visitors(registered=("orderer",), people=()):
    data = {
        "visitors-TOTAL_FORMS": str(len(people)),
        "visitors-INITIAL_FORMS": "0",
        "visitors-MIN_NUM_FORMS": "0",
        "visitors-MAX_NUM_FORMS": "1000",
        "visitors-registered": list(registered),
    }
    for i, person in enumerate(people):
        for key, value in person.items():
            data[f"visitors-{i}-{key}"] = value
    return data


CONTACTS = {"contacts-technical": "me", "contacts-availability": "WORK_HOURS", "contacts-timezone": "America/New_York"}
DETAILS = {
    "details-description": "Replace a failed power supply in cabinet 0101.",
    "details-customer_reference": "ACME-1",
}


def management(client):
    """The wizard's management-form prefix, read from the page (formtools derives it from the class name)."""
    page = client.get(reverse("wizard"), follow=True).content.decode()
    return re.search(r'name="([a-z_]+)-current_step"', page).group(1)


def walk(client, steps):
    prefix = management(client)
    response = None
    for step, data in steps:
        response = client.post(step_url(step), {f"{prefix}-current_step": step, **data})
        if response.status_code != 302:
            return step, response
    return None, response


def all_steps(**overrides):
    steps = {
        "location": LOCATION,
        "schedule": schedule(),
        "visitors": visitors(),
        "contacts": CONTACTS,
        "details": DETAILS,
        "review": {},
    }
    steps.update(overrides)
    return list(steps.items())


@pytest.fixture
def orderer_client(client, orderer):
    client.force_login(orderer)
    return client


def test_whole_wizard_creates_the_order_and_shows_the_confirmation(orderer_client, orderer):
    failed, response = walk(orderer_client, all_steps())
    assert failed is None, response.content.decode()[:3000]
    assert response.url == step_url("finish")
    done = orderer_client.get(response.url)
    order = Order.objects.get()
    assert done.status_code == 302 and done.url == reverse("order_confirmation", kwargs={"order_id": order.order_id})
    page = orderer_client.get(done.url).content.decode()
    assert order.order_id in page and "What happens next" in page
    assert order.ordered_by == orderer and order.ibx.code == "DC2"
    assert [c.cabinet.cabinet_id for c in order.cages.all()] == ["DC2:01:123456:0101"]
    assert order.visit_start.astimezone(NY).hour == 9
    assert [v.user.username for v in order.visitors.all()] == ["orderer"]
    assert order.status in (OrderStatus.QUEUED, OrderStatus.PENDING_REVIEW)


def field_errors(response, field_id):
    """The error texts tied to a field by aria-describedby, as the page shows them."""
    page = response.content.decode()
    match = re.search(rf'<div class="invalid-feedback d-block" id="{field_id}_error"[^>]*>(.*?)</div>', page, re.S)
    assert match, f"no errors shown for {field_id}"
    # The input (or the fieldset of a group of choices) names the errors in aria-describedby.
    tag = re.search(rf'<(input|select|textarea|fieldset)\b[^>]*\bid="{field_id}(_group)?"[^>]*>', page).group(0)
    described = re.search(r'aria-describedby="([^"]+)"', tag)
    assert described and f"{field_id}_error" in described.group(1).split(), tag
    return re.sub(r"<[^>]+>", " ", match.group(1)).split()


def shown(response, field_id) -> str:
    return " ".join(field_errors(response, field_id))


def test_viewer_is_turned_away_with_the_reason_and_who_can_grant_it(client, viewer):
    client.force_login(viewer)
    response = client.get(step_url("location"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "do not hold the work-visit ordering permission" in page
    assert "your organization's administrator" in page and "data centre staff" in page
    assert client.get(reverse("dashboard")).status_code == 200


def test_wizard_needs_a_signed_in_user(client, demo):
    response = client.get(step_url("location"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_location_needs_a_cage(orderer_client):
    failed, response = walk(orderer_client, all_steps(location={"location-ibx": "DC2"}))
    assert failed == "location"
    assert "Give at least one of the cages." in shown(response, "id_location-cages")


def test_account_on_credit_hold_is_shown_and_refused_with_the_reason(orderer_client):
    page = orderer_client.get(reverse("wizard_cages"), {"location-ibx": "AM1"}).content.decode()
    assert "2000000002" in page and "on credit hold" in page
    failed, response = walk(
        orderer_client,
        all_steps(
            location={
                "location-ibx": "AM1",
                "location-cages": ["AM1:02:200101"],
                "location-account_AM1_02_200101": "2000000002",
            }
        ),
    )
    assert failed == "location"
    message = shown(response, "id_location-account_AM1_02_200101")
    assert "is on credit hold and cannot order work visits" in message


def test_cabinet_must_belong_to_the_chosen_account(orderer_client):
    data = {
        "location-ibx": "DC2",
        "location-cages": ["DC2:01:123457"],
        "location-account_DC2_01_123457": "1234567890",
        "location-cabinet_DC2_01_123457": "DC2:01:123457:0201",
    }
    failed, response = walk(orderer_client, all_steps(location=data))
    assert failed == "location"
    assert "does not belong to cage DC2:01:123457 and account 1234567890" in shown(
        response, "id_location-cabinet_DC2_01_123457"
    )


def test_dependent_choices_narrow_to_the_ibx_and_the_account(orderer_client):
    dc2 = orderer_client.get(reverse("wizard_cages"), {"location-ibx": "DC2"}).content.decode()
    assert "DC2:01:123456" in dc2 and "DC2:01:123457" in dc2 and "AM1:02:200100" not in dc2
    assert "DC2:02:300300" not in dc2  # Globex's cage
    cabinets = orderer_client.get(
        reverse("wizard_cabinets"),
        {"cage": "DC2:01:123457", "location-ibx": "DC2", "location-account_DC2_01_123457": "1234567891"},
    ).content.decode()
    assert "DC2:01:123457:0201" in cabinets
    other = orderer_client.get(
        reverse("wizard_cabinets"),
        {"cage": "DC2:01:123457", "location-ibx": "DC2", "location-account_DC2_01_123457": "1234567890"},
    ).content.decode()
    assert "DC2:01:123457:0201" not in other


def test_a_15_day_visit_is_refused_with_the_security_access_hint(orderer_client):
    failed, response = walk(orderer_client, all_steps(schedule=schedule(local(1, 9), local(16, 9))))
    assert failed == "schedule"
    assert " ".join(rules.SECURITY_ACCESS_HINT.split()) in shown(response, "id_schedule-end")


def test_start_in_the_past_and_end_before_start_are_explained_at_their_fields(orderer_client):
    failed, response = walk(orderer_client, all_steps(schedule=schedule(local(-2, 9), local(-3, 9))))
    assert failed == "schedule"
    assert "is in the past; choose a start time from now on." in shown(response, "id_schedule-start")
    assert "must be after the visit start" in shown(response, "id_schedule-end")


def _next_clock_change(forward: bool) -> datetime:
    """The middle of the local hour New York's next clock change that way skips (forward) or shows twice (back)."""
    instant = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    for _ in range(366 * 24):
        changed = instant + timedelta(hours=1)
        before, after = instant.astimezone(NY).utcoffset(), changed.astimezone(NY).utcoffset()
        if before != after and (after > before) == forward:
            # Forward, the clock shows 03:00 at the change: 02:30 never shows. Back, it shows 01:00 again.
            local = changed.astimezone(NY).replace(tzinfo=None)
            return local - timedelta(minutes=30) if forward else local + timedelta(minutes=30)
        instant = changed
    raise AssertionError("New York changed no clocks in a year")


def test_a_time_the_clocks_skip_or_pass_twice_is_explained_with_the_times_around_it(orderer_client):
    gap = _next_clock_change(forward=True)
    failed, response = walk(
        orderer_client,
        all_steps(
            schedule=schedule(gap.strftime("%Y-%m-%dT%H:%M"), (gap + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"))
        ),
    )
    assert failed == "schedule"
    said = shown(response, "id_schedule-start")
    assert f"{gap:%H:%M} on {gap.day} {gap:%B %Y} does not exist in America/New_York" in said
    assert "the clocks go forward from 02:00 to 03:00. Choose a time before 02:00 or from 03:00 on." in said

    twice = _next_clock_change(forward=False)
    start = twice - timedelta(hours=12)
    failed, response = walk(
        orderer_client,
        all_steps(schedule=schedule(start.strftime("%Y-%m-%dT%H:%M"), twice.strftime("%Y-%m-%dT%H:%M"))),
    )
    assert failed == "schedule"
    said = shown(response, "id_schedule-end")
    assert f"{twice:%H:%M} on {twice.day} {twice:%B %Y} happens twice in America/New_York" in said
    assert "the clocks go back from 02:00 to 01:00. Choose a time before 01:00 or from 02:00 on" in said


def test_schedule_is_entered_in_the_ibx_zone_and_shown_with_utc(orderer_client):
    walk(orderer_client, all_steps()[:1])
    page = orderer_client.get(step_url("schedule")).content.decode()
    assert "America/New_York" in page
    check = orderer_client.post(
        reverse("wizard_schedule_check"),
        {"ibx": "AM1", "schedule-start": "2031-07-01T09:00", "schedule-end": "2031-07-01T17:00"},
    ).content.decode()
    assert "09:00" in check and "07:00 UTC" in check and "CEST" in check


def test_visitors_need_at_least_one(orderer_client):
    failed, response = walk(orderer_client, all_steps(visitors=visitors(registered=())))
    assert failed == "visitors"
    assert "Give at least one of the visitors." in response.content.decode()


def test_typed_in_visitor_needs_name_and_company_but_no_email_or_phone(orderer_client):
    person = {"first_name": "Jane", "last_name": "", "company_name": "Contoso", "email": "", "phone": ""}
    failed, response = walk(orderer_client, all_steps(visitors=visitors(people=[person])))
    assert failed == "visitors"
    assert "write the last name as on the photo ID" in shown(response, "id_visitors-0-last_name")
    person["last_name"] = "Doe"  # a visitor's email and phone are optional (CONTRACT.md rules)
    failed, _ = walk(orderer_client, all_steps(visitors=visitors(people=[person])))
    assert failed is None


def test_duplicate_visitors_are_caught(orderer_client):
    person = {"first_name": "Jane", "last_name": "Doe", "company_name": "Contoso", "email": "jane@contoso.example"}
    failed, response = walk(orderer_client, all_steps(visitors=visitors(people=[person, person])))
    assert failed == "visitors"
    assert "listed twice as a visitor" in response.content.decode()


def test_recent_visitors_of_the_organization_are_offered_again(orderer_client, orderer, make_body):
    body = make_body()
    body["details"]["visitors"] = [
        {
            "firstName": "Rhea",
            "lastName": "Recent",
            "companyName": "Fixit Ltd",
            "details": [{"type": "EMAIL", "value": "rhea@fixit.example"}],
        }
    ]
    services.order_create(user=orderer, data=body)
    walk(orderer_client, all_steps()[:2])
    page = orderer_client.get(step_url("visitors")).content.decode()
    assert "Rhea Recent · Fixit Ltd" in page
    pk = re.search(r'name="visitors-recent" value="(\d+)"', page).group(1)
    failed, response = walk(orderer_client, all_steps(visitors={**visitors(registered=()), "visitors-recent": [pk]}))
    assert failed is None
    orderer_client.get(response.url)
    order = Order.objects.latest("created_at")
    assert [v.name for v in order.visitors.all()] == ["Rhea Recent"]


def test_technical_contact_typed_in_needs_time_zone_and_availability_rules(orderer_client):
    data = {
        "contacts-technical": "person",
        "contacts-tech_first_name": "Tom",
        "contacts-tech_last_name": "Tech",
        "contacts-tech_company_name": "Fixit",
        "contacts-tech_email": "tom@fixit.example",
        "contacts-availability": "ANYTIME",
        "contacts-timezone": "Mars/Olympus",
    }
    failed, response = walk(orderer_client, all_steps(contacts=data))
    assert failed == "contacts"
    assert "is not a time zone" in shown(response, "id_contacts-timezone")


def test_contacts_reach_the_order(orderer_client):
    data = {
        "contacts-technical": "user",
        "contacts-technical_user": "technician",
        "contacts-availability": "ANYTIME",
        "contacts-timezone": "Europe/Amsterdam",
        "contacts-notification": ["viewer", "orderer"],
    }
    failed, response = walk(orderer_client, all_steps(contacts=data))
    assert failed is None
    orderer_client.get(response.url)
    order = Order.objects.get()
    contacts = {(c.contact_type, c.user.username) for c in order.contacts.all()}
    assert contacts == {("TECHNICAL", "technician"), ("NOTIFICATION", "viewer"), ("NOTIFICATION", "orderer")}


def test_description_length_is_the_rules_one(orderer_client):
    failed, response = walk(orderer_client, all_steps(details={"details-description": "short"}))
    assert failed == "details"
    assert "description must be 10 to 4000 characters long; it has 5." in shown(response, "id_details-description")
    assert 'data-max="4000"' in response.content.decode()


def test_po_bearing_account_needs_a_purchase_order_other_than_exempted(orderer_client):
    location = {
        "location-ibx": "DC2",
        "location-cages": ["DC2:01:123457"],
        "location-account_DC2_01_123457": "1234567891",
    }
    failed, response = walk(orderer_client, all_steps(location=location))
    assert failed == "details"
    assert "requires a purchase order" in shown(response, "id_details-po_type")
    failed, response = walk(
        orderer_client, all_steps(location=location, details={**DETAILS, "details-po_type": "EXEMPTED"})
    )
    assert "needs a purchase order: choose New or Existing" in shown(response, "id_details-po_type")
    assert 'value="EXEMPTED"' not in response.content.decode()  # not offered where the account refuses it
    failed, response = walk(
        orderer_client, all_steps(location=location, details={**DETAILS, "details-po_type": "EXISTING"})
    )
    assert "an existing purchase order needs its number" in shown(response, "id_details-po_number")
    details = {**DETAILS, "details-po_type": "EXISTING", "details-po_number": "PO-77", "details-po_amount": "100"}
    failed, response = walk(orderer_client, all_steps(location=location, details=details))
    assert failed is None
    orderer_client.get(response.url)
    order = Order.objects.get()
    assert (order.po_type, order.po_number, order.po_amount) == ("EXISTING", "PO-77", "100")


def test_attachments_are_checked_by_content_on_upload_and_claimed_by_the_order(orderer_client, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("photo.png", b"<html><script>alert(1)</script></html>")
    response = orderer_client.post(reverse("wizard_upload"), {"file": bad})
    assert response.status_code == 400
    assert "the content is not a .png file" in response.json()["errors"][0]
    good = SimpleUploadedFile("notes.txt", b"Rack layout: U12 to U14.")
    response = orderer_client.post(reverse("wizard_upload"), {"file": good})
    assert response.status_code == 201
    attachment_id = response.json()["id"]
    assert 'name="details-attachments"' in response.json()["html"]
    failed, response = walk(orderer_client, all_steps(details={**DETAILS, "details-attachments": [attachment_id]}))
    assert failed is None
    orderer_client.get(response.url)
    assert Attachment.objects.get(pk=attachment_id).order == Order.objects.get()


def test_back_keeps_what_was_typed(orderer_client):
    prefix = management(orderer_client)
    walk(orderer_client, all_steps()[:2])
    typed = {"visitors-registered": ["technician"], **{k: v for k, v in visitors().items() if "registered" not in k}}
    response = orderer_client.post(
        step_url("visitors"), {f"{prefix}-current_step": "visitors", "wizard_goto_step": "schedule", **typed}
    )
    assert response.status_code == 302 and response.url == step_url("schedule")
    page = orderer_client.get(step_url("visitors")).content.decode()
    assert re.search(r'value="technician" id="[^"]+" checked', page)


def test_every_step_is_validated_again_before_the_order_is_placed(orderer_client):
    prefix = management(orderer_client)
    failed, _ = walk(orderer_client, all_steps()[:-1])
    assert failed is None
    # The schedule stored earlier has gone stale: the start is now in the past.
    session = orderer_client.session
    for key, value in session.items():
        if isinstance(value, dict) and "step_data" in value:
            value["step_data"]["schedule"]["schedule-start"] = [local(-1, 9)]
            session[key] = value
    session.save()
    response = orderer_client.post(step_url("review"), {f"{prefix}-current_step": "review"})
    response = orderer_client.get(response.url)
    assert response.status_code == 302 and response.url == step_url("schedule")
    assert not Order.objects.exists()
    page = orderer_client.get(response.url)
    assert "is in the past" in shown(page, "id_schedule-start")


def test_review_lists_everything_with_change_links(orderer_client):
    walk(orderer_client, all_steps()[:-1])
    page = orderer_client.get(step_url("review")).content.decode()
    for step in ("location", "schedule", "visitors", "contacts", "details"):
        assert f'href="{step_url(step)}"' in page
    assert "DC2:01:123456:0101" in page and "Replace a failed power supply" in page and "Place the order" in page


def test_a_change_from_the_review_page_can_go_straight_back_to_it(orderer_client):
    prefix = management(orderer_client)
    walk(orderer_client, all_steps()[:-1])
    page = orderer_client.get(step_url("schedule")).content.decode()
    assert "Save and back to review" in page
    response = orderer_client.post(
        step_url("schedule"),
        {f"{prefix}-current_step": "schedule", "to_review": "1", **schedule(local(2, 10), local(2, 12))},
    )
    assert response.status_code == 302 and response.url == step_url("review")
    assert "10:00" in orderer_client.get(step_url("review")).content.decode()


@pytest.mark.parametrize(
    "path, step",
    [
        ("details.cages[0].accountNumber", "location"),
        ("details.visitEndDateTime", "schedule"),
        ("details.visitors[2].details[0].value", "visitors"),
        ("contacts[0].timezone", "contacts"),
        ("purchaseOrder.number", "details"),
        ("attachments", "details"),
        ("$", "review"),
    ],
)
def test_a_rule_broken_when_placing_the_order_leads_back_to_its_step(path, step):
    from workvisits.web.wizard import step_for_path

    assert step_for_path(path) == step


def test_redrawing_the_choices_does_not_judge_them_yet(orderer_client):
    response = orderer_client.get(
        reverse("wizard_cages"),
        {"location-ibx": "AM1", "location-cages": ["DC2:01:123456"], "location-account_DC2_01_123456": "1234567890"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "AM1:02:200100" in page and "is-invalid" not in page and "details.cages" not in page


def test_the_wizards_helpers_refuse_users_who_may_not_order(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("wizard_cages"), {"location-ibx": "DC2"}).status_code == 403
    assert client.post(reverse("wizard_schedule_check"), {"ibx": "DC2"}).status_code == 403
    assert client.post(reverse("wizard_upload"), {}).status_code == 403


def test_a_long_list_of_people_can_be_narrowed_by_name(orderer_client, orderer):
    from workvisits.models import User

    for i in range(5):
        User.objects.create(
            username=f"member{i}", first_name="Member", last_name=f"No{i}", organization=orderer.organization
        )
    walk(orderer_client, all_steps()[:2])
    page = orderer_client.get(step_url("visitors")).content.decode()
    assert 'data-filter-options="id_visitors-registered_group"' in page and "Member No4 (member4)" in page


def _placed(client, steps) -> Order:
    failed, response = walk(client, steps)
    assert failed is None, response.content.decode()[:3000]
    client.get(response.url)  # the finish step places the order
    return Order.objects.get()


def test_the_description_may_be_left_empty_and_the_field_says_so(orderer_client):
    failed, response = walk(orderer_client, all_steps(details={"details-description": "short"}))
    assert failed == "details"
    page = response.content.decode()
    assert "Description of the work (optional)" in page and "You may leave it empty" in page
    assert _placed(orderer_client, all_steps(details={"details-description": ""})).description == ""


def test_a_visitor_s_phone_typed_in_the_wizard_is_stored_as_mobile(orderer_client):
    person = {"first_name": "Jane", "last_name": "Doe", "company_name": "Contoso", "phone": "+1 703 555 0100"}
    order = _placed(orderer_client, all_steps(visitors=visitors(people=[person])))
    assert order.visitors.get(user=None).details == [{"type": "MOBILE", "value": "+1 703 555 0100"}]
