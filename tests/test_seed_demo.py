"""The demo data command: everything CONTRACT.md promises, and idempotent."""

import io

import pytest
from django.core.management import call_command

from workvisits import selectors
from workvisits.models import IBX, Account, Cabinet, Cage, OrderingGrant, Organization, User


def _snapshot():
    return {
        model.__name__: sorted(map(str, model.objects.values_list("pk", flat=True)))
        for model in (Organization, IBX, Cage, Account, Cabinet, OrderingGrant, User)
    } | {"passwords": sorted(User.objects.values_list("username", "password"))}


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = _snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert _snapshot() == first
    assert "orderer-demo-pass" in out.getvalue()  # passwords are printed


def test_demo_catalogue_and_personas(users):
    assert {i.code: i.timezone for i in IBX.objects.all()} == {"DC2": "America/New_York", "AM1": "Europe/Amsterdam"}
    assert set(Organization.objects.values_list("name", flat=True)) == {"Acme Corp", "Globex Inc"}
    assert selectors.user_may_order(users["orderer"])
    assert not selectors.user_may_order(users["viewer"])
    assert selectors.user_sees_all_orders(users["viewer"])
    assert users["reviewer"].is_staff and users["reviewer"].groups.filter(name="Reviewers").exists()
    assert users["operator"].is_staff and users["operator"].groups.filter(name="Operators").exists()
    assert users["reviewer"].has_perm("workvisits.review_order")
    assert not users["reviewer"].has_perm("workvisits.resubmit_order")
    assert users["operator"].has_perm("workvisits.resubmit_order")
    assert users["orderer"].check_password("orderer-demo-pass")


def test_each_organization_orders_only_in_its_own_cages(users):
    acme = set(selectors.orderable_cages(users["orderer"]).values_list("cage_id", flat=True))
    globex = set(selectors.orderable_cages(users["globex"]).values_list("cage_id", flat=True))
    assert acme == {"DC2:01:123456", "DC2:01:123457", "AM1:02:200100", "AM1:02:200101"}
    assert globex == {"DC2:02:300300"}
