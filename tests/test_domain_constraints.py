"""Database constraints and hierarchy validation of the domain model, proven on the real database."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from workvisits import services
from workvisits.choices import ContactType
from workvisits.models import IBX, Cabinet, Cage, Contact, Order, OrderingGrant


@pytest.fixture
def order(orderer, make_body):
    return services.order_create(user=orderer, data=make_body())


def test_only_one_technical_contact_per_order(order, users):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(order=order, contact_type=ContactType.TECHNICAL, user=users["viewer"])


def test_notification_contacts_are_registered_users(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(order=order, contact_type=ContactType.NOTIFICATION, first_name="A", last_name="B")


def test_status_must_be_a_known_one(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="LOST")


def test_visit_end_must_be_after_start(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(visit_end=order.visit_start - timedelta(minutes=1))


def test_order_and_upstream_ids_are_unique(order, orderer, make_body):
    other = services.order_create(user=orderer, data=make_body())
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=other.pk).update(order_id=order.order_id)
    Order.objects.filter(pk=order.pk).update(upstream_order_id="1-10000001")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=other.pk).update(upstream_order_id="1-10000001")


def test_a_grant_is_on_a_cage_or_an_ibx_not_both(demo, users):
    cage = Cage.objects.get(cage_id="DC2:01:123456")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderingGrant.objects.create(user=users["viewer"], cage=cage, ibx=cage.ibx)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderingGrant.objects.create(user=users["viewer"])


def test_a_cage_belongs_to_its_ibx_and_a_cabinet_to_its_cage(demo):
    am1 = IBX.objects.get(code="AM1")
    cage = Cage.objects.get(cage_id="DC2:01:123456")
    cage.ibx = am1
    with pytest.raises(ValidationError, match="AM1:"):
        cage.full_clean()
    cabinet = Cabinet.objects.get(cabinet_id="DC2:01:123456:0101")
    cabinet.cage = Cage.objects.get(cage_id="AM1:02:200100")
    with pytest.raises(ValidationError) as caught:
        cabinet.full_clean()
    assert {"cabinet_id", "account"} <= set(caught.value.message_dict)


def test_ibx_time_zone_is_validated(demo):
    ibx = IBX(code="XX9", name="Nowhere", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not a time zone"):
        ibx.full_clean()


def test_created_at_is_stored_in_utc(order):
    assert order.created_at.utcoffset() == timedelta(0)
    assert abs(order.created_at - timezone.now()) < timedelta(minutes=1)
