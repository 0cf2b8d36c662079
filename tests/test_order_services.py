"""The services every interface shares: create, modify, cancel, and what each records."""

from datetime import timedelta

import pytest
from django.utils import timezone

from workvisits import rules, selectors, services, tasks
from workvisits.choices import ContactType, EventKind, OrderStatus, ReviewMode
from workvisits.models import Order, Organization


def test_create_stores_the_order_its_parts_and_its_first_event(
    orderer, make_body, django_capture_on_commit_callbacks, monkeypatch
):
    body = make_body()
    body["details"]["visitors"].append(
        {
            "firstName": "Jane",
            "lastName": "Doe",
            "companyName": "Fixit BV",
            "details": [{"type": "EMAIL", "value": "jane@fixit.example"}],
        }
    )
    body["contacts"] = [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}]
    with django_capture_on_commit_callbacks() as callbacks:
        order = services.order_create(user=orderer, data=body)
    order = selectors.order_with_parts(order.pk)
    assert order.status == OrderStatus.QUEUED
    assert order.ibx.code == "DC2"
    assert [str(c.cabinet) for c in order.cages.all()] == ["DC2:01:123456:0101"]
    assert [v.name for v in order.visitors.all()] == ["Olivia Orderer", "Jane Doe"]
    contacts = {(c.contact_type, c.name) for c in order.contacts.all()}
    assert contacts == {(ContactType.TECHNICAL, "Olivia Orderer"), (ContactType.NOTIFICATION, "Victor Viewer")}
    assert [(e.kind, e.to_status) for e in order.events.all()] == [(EventKind.CREATED, OrderStatus.QUEUED)]
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda name, *args, **kwargs: sent.append((name, args)) or True)
    for callback in callbacks:
        callback()
    # One message per order: the submission, whose task also sends the "received" email.
    assert sent == [(tasks.submit_order, (order.pk,))]


def test_an_order_waiting_for_review_is_only_notified(
    orderer, make_body, published_tasks, django_capture_on_commit_callbacks
):
    Organization.objects.filter(pk=orderer.organization_id).update(review_mode=ReviewMode.ALL)
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_create(user=orderer, data=make_body())
    assert order.status == OrderStatus.PENDING_REVIEW
    assert published_tasks == [(tasks.notify_order.name, (order.pk,))]


def test_create_refuses_with_every_error_and_stores_nothing(orderer, make_body):
    body = make_body(description="short")
    body["details"]["visitEndDateTime"] = body["details"]["visitStartDateTime"]
    with pytest.raises(rules.RuleViolation) as caught:
        services.order_create(user=orderer, data=body)
    assert {e.path for e in caught.value.errors} == {"description", "details.visitEndDateTime"}
    assert not Order.objects.exists()


def test_a_user_without_the_grant_cannot_order(viewer, make_body):
    with pytest.raises(rules.RuleViolation) as caught:
        services.order_create(user=viewer, data=make_body())
    assert caught.value.errors[0].code == rules.NO_CREATE_PERMISSION


def test_another_organization_cannot_see_or_change_the_order(orderer, globex, make_body):
    order = services.order_create(user=orderer, data=make_body())
    assert not selectors.orders_for_user(user=globex).exists()
    with pytest.raises(services.OrderNotFound):
        services.order_cancel(user=globex, order_id=order.order_id, reason="Not ours at all")


def test_modify_reschedules_records_the_change_and_bumps_the_version(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    new_start = order.visit_start + timedelta(days=2)
    changed = services.order_modify(
        user=orderer,
        order_id=order.order_id,
        data={
            "details": {
                "visitStartDateTime": rules.format_datetime(new_start),
                "visitEndDateTime": rules.format_datetime(new_start + timedelta(hours=2)),
                "openCabinet": True,
            }
        },
    )
    assert (changed.visit_start, changed.open_cabinet, changed.version) == (new_start, True, order.version + 1)
    event = changed.events.get(kind=EventKind.MODIFIED)
    assert event.actor == orderer and "rescheduled" in event.note


def test_modify_against_a_stale_version_is_a_conflict(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    data = {"details": {"openCabinet": True}}
    services.order_modify(user=orderer, order_id=order.order_id, data=data, expected_version=order.version)
    with pytest.raises(services.OrderConflict, match="changed since"):
        services.order_modify(user=orderer, order_id=order.order_id, data=data, expected_version=order.version)


def test_viewer_with_the_view_all_grant_may_change_and_a_plain_member_may_not_see(orderer, users, make_body):
    """CONTRACT "Modify": a user who may see all the organization's orders may change them."""
    order = services.order_create(user=orderer, data=make_body())
    changed = services.order_modify(
        user=users["viewer"], order_id=order.order_id, data={"details": {"openCabinet": True}}
    )
    assert changed.open_cabinet is True
    with pytest.raises(services.OrderNotFound):
        services.order_modify(
            user=users["technician"], order_id=order.order_id, data={"details": {"openCabinet": True}}
        )


def test_cancel_needs_a_reason_and_closes_the_order(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    with pytest.raises(rules.RuleViolation):
        services.order_cancel(user=orderer, order_id=order.order_id, reason="no")
    cancelled = services.order_cancel(user=orderer, order_id=order.order_id, reason="Plans changed")
    assert cancelled.status == OrderStatus.CANCELLED and not cancelled.cancellable and not cancelled.modifiable
    with pytest.raises(services.OrderConflict):
        services.order_cancel(user=orderer, order_id=order.order_id, reason="Plans changed again")
    with pytest.raises(services.OrderConflict):
        services.order_modify(user=orderer, order_id=order.order_id, data={"details": {"openCabinet": True}})


def test_review_policy_holds_matching_orders_for_a_reviewer(orderer, users, make_body):
    organization = orderer.organization
    organization.review_mode = "CONDITIONS"
    organization.review_within_24_hours = True
    organization.save()
    soon = services.order_create(user=orderer, data=make_body(start=timezone.now() + timedelta(hours=3)))
    later = services.order_create(user=orderer, data=make_body(start=timezone.now() + timedelta(days=3)))
    assert (soon.status, later.status) == (OrderStatus.PENDING_REVIEW, OrderStatus.QUEUED)
    assert soon.review_reasons == ["The visit starts within 24 hours."]
    approved = services.order_approve(reviewer=users["reviewer"], order_pk=soon.pk)
    assert approved.status == OrderStatus.QUEUED
    assert approved.events.filter(kind=EventKind.APPROVED, actor=users["reviewer"]).exists()


def test_new_order_ids_use_every_character_of_their_alphabet_and_only_those():
    alphabet = set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")  # no 0/O, 1/I: read out over the phone
    ids = [Order().order_id for _ in range(2000)]
    assert all(len(i) == 13 and i.startswith("WV-") for i in ids)
    seen = set("".join(i[3:] for i in ids))
    assert seen == alphabet  # 20,000 characters: each of the 32 about 625 times
    assert len(set(ids)) == len(ids)
