"""What a create is checked against: the catalogue cached under its version, grants and users read
every time. A change is seen by the very next create, with the caches warm (real Redis cache)."""

import json
import socket
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.api_support import Api
from workvisits import locations, rules, selectors, services
from workvisits.catalogue import catalogue_changed
from workvisits.models import IBX, Account, Cabinet, Cage, Order, OrderingGrant, Organization, User

DC2_CAGE, DC2_CABINET = "DC2:01:123456", "DC2:01:123456:0101"
CREATE = "/colocations/v2/orders/workVisits"
_CATALOGUE_TABLES = tuple(f'"{m._meta.db_table}"' for m in (IBX, Cage, Account, Cabinet))


def _create(user, body):
    """The create's error codes by path, or {} when it was stored."""
    try:
        services.order_create(user=user, data=body)
    except rules.RuleViolation as exc:
        return {e.path: e.code for e in exc.errors}
    return {}


def _with_visitor(make_body, username):
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": [username]}]
    return body


@pytest.fixture
def warm(orderer, make_body):
    """One create stored, so that the orderer's catalogue is in the cache."""
    assert _create(orderer, make_body()) == {}
    return orderer


def test_a_warm_create_reads_no_catalogue_table(warm, make_body):
    with CaptureQueriesContext(connection) as queries:
        assert _create(warm, make_body()) == {}
    assert not [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in _CATALOGUE_TABLES)]


# ---------------------------------------------------------------------------------------------
# Grants and users: read on every create, whatever changed them.
def test_grants_moved_by_a_queryset_update_refuse_the_next_create(warm, viewer, make_body):
    OrderingGrant.objects.filter(user=warm).update(user=viewer)  # no signal, no save()
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}
    assert _create(viewer, _with_visitor(make_body, "viewer")) == {}  # and the new holder may order at once


def test_a_grant_deleted_refuses_the_next_create(warm, make_body):
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").delete()
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_a_user_deactivated_by_a_queryset_update_is_no_visitor_for_the_next_create(warm, make_body):
    body = _with_visitor(make_body, "technician")
    assert _create(warm, body) == {}
    User.objects.filter(username="technician").update(is_active=False)
    assert _create(warm, body) == {"details.visitors[0].registeredUsers[0]": rules.INVALID}


def test_a_caller_deactivated_by_a_queryset_update_cannot_order(warm, make_body):
    api = Api(warm)
    assert api.post(CREATE, make_body()).status_code == 201
    User.objects.filter(pk=warm.pk).update(is_active=False)
    assert api.post(CREATE, make_body()).status_code == 401  # the token check refuses the call
    stale = User.objects.get(pk=warm.pk)  # a session or a task holding the user object
    assert _create(stale, make_body()) == {
        "details.cages[0].id": rules.NO_CREATE_PERMISSION,
        "details.visitors[0].registeredUsers[0]": rules.INVALID,  # nor a visitor
    }


def test_a_review_policy_changed_by_a_queryset_update_applies_to_the_next_create(warm, make_body):
    Organization.objects.filter(pk=warm.organization_id).update(review_mode="ALL")
    services.order_create(user=warm, data=make_body())
    assert Order.objects.latest("pk").status == "PENDING_REVIEW"


def test_an_api_create_sees_a_revoked_grant_on_the_very_next_request(warm, make_body):
    api = Api(warm)
    assert api.post(CREATE, make_body()).status_code == 201
    OrderingGrant.objects.filter(user=warm).update(user=User.objects.get(username="viewer"))
    response = api.post(CREATE, make_body())
    assert response.status_code == 403, response.json()


def _offered(user) -> tuple[list[str], bool]:
    """The IBXs the user may order in, and whether the dashboard offers "Schedule a work visit"."""
    client = Client()
    client.force_login(user)
    return selectors.orderable_ibx_codes(user), "Schedule a work visit" in client.get("/").content.decode()


def test_the_pages_offer_ordering_by_the_grants_as_they_are_now(warm, viewer):
    codes, offered = _offered(warm)
    assert offered and "DC2" in codes
    assert _offered(viewer) == ([], False)
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").update(user=viewer)  # no signal, no save()
    codes, offered = _offered(warm)
    assert "DC2" not in codes
    assert _offered(viewer) == (["DC2"], True)
    OrderingGrant.objects.filter(user=warm).delete()
    assert _offered(warm) == ([], False)
    assert not selectors.user_may_order(warm)


def test_an_ibx_deactivated_in_the_admin_is_no_longer_offered(warm, admin_client):
    assert "DC2" in selectors.orderable_ibx_codes(warm)
    ibx = IBX.objects.get(code="DC2")
    _save_in_admin(admin_client, ibx, {"code": ibx.code, "name": ibx.name, "timezone": ibx.timezone, "active": ""})
    assert "DC2" not in selectors.orderable_ibx_codes(warm)


# ---------------------------------------------------------------------------------------------
# The catalogue: cached, replaced when the import or the admin changes it.
def test_a_locations_import_that_retires_a_cage_is_seen_by_the_next_create(warm, make_body):
    body = make_body()
    body["details"]["cages"] = [{"id": "AM1:02:200101", "accountNumber": "1234567890"}]
    assert "AM1:02:200101" in selectors.ordering_context(warm).cages
    answer = json.loads((Path(__file__).parent / "data" / "upstream_locations.json").read_text())
    sync = locations.import_locations_answer(answer=answer)
    assert "AM1:02:200101" in sync.summary["cages"]["retired"]
    assert _create(warm, body) == {"details.cages[0].id": rules.INVALID}


@pytest.fixture
def admin_client(users):
    client = Client()
    client.force_login(users["admin"])
    return client


def _save_in_admin(client, obj, data):
    """A staff member saves the object's change form; the admin redirects once it is saved."""
    response = client.post(f"/admin/workvisits/{obj._meta.model_name}/{obj.pk}/change/", data)
    assert response.status_code == 302, response.content


def test_an_ibx_deactivated_in_the_admin_refuses_the_next_create(warm, make_body, admin_client):
    ibx = IBX.objects.get(code="DC2")
    _save_in_admin(admin_client, ibx, {"code": ibx.code, "name": ibx.name, "timezone": ibx.timezone, "active": ""})
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_a_cabinet_retired_in_the_admin_refuses_the_next_create(warm, make_body, admin_client):
    cabinet = Cabinet.objects.get(cabinet_id=DC2_CABINET)
    # "active" left unchecked.
    _save_in_admin(
        admin_client,
        cabinet,
        {
            "cabinet_id": cabinet.cabinet_id,
            "cage": cabinet.cage_id,
            "account": cabinet.account_id,
            "cabinet_type": cabinet.cabinet_type,
        },
    )
    assert _create(warm, make_body()) == {"details.cages[0].cabinetId": rules.INVALID}


def test_an_unused_cage_deleted_in_the_admin_is_unknown_to_the_next_create(warm, make_body, admin_client):
    account = Account.objects.get(number="1234567890")
    spare = Cage.objects.create(
        cage_id="DC2:09:999999", ibx=IBX.objects.get(code="DC2"), organization=account.organization
    )
    spare.accounts.add(account)
    catalogue_changed([spare.organization_id])
    body = make_body()
    body["details"]["cages"] = [{"id": spare.cage_id, "accountNumber": account.number}]
    assert _create(warm, body) == {}
    Order.objects.filter(cages__cage=spare).delete()  # (orders protect their cages)
    response = admin_client.post(f"/admin/workvisits/cage/{spare.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    assert _create(warm, body) == {"details.cages[0].id": rules.INVALID}


def test_an_account_put_on_credit_hold_in_the_admin_refuses_the_next_create(warm, make_body, admin_client):
    account = Account.objects.get(number="1234567890")
    _save_in_admin(
        admin_client,
        account,
        {
            "number": account.number,
            "name": account.name,
            "organization": account.organization_id,
            "is_credit_hold": "on",
        },
    )
    assert _create(warm, make_body()) == {"details.cages[0].accountNumber": rules.INVALID}


def test_an_account_taken_off_the_cage_in_the_admin_refuses_the_next_create(warm, make_body, admin_client):
    cage = Cage.objects.get(cage_id=DC2_CAGE)
    _save_in_admin(
        admin_client,
        cage,
        {
            "cage_id": cage.cage_id,
            "ibx": cage.ibx_id,
            "organization": cage.organization_id,
            "cage_type": cage.cage_type,
            "accounts": [a.pk for a in cage.accounts.exclude(number="1234567890")],
            "active": "on",
            # The cabinets inline, left as it is.
            "cabinets-TOTAL_FORMS": "0",
            "cabinets-INITIAL_FORMS": "0",
        },
    )
    assert _create(warm, make_body()) == {"details.cages[0].accountNumber": rules.INVALID}


def test_saving_an_organization_read_earlier_never_brings_an_old_version_back(warm, make_body, admin_client):
    stale = Organization.objects.get(pk=warm.organization_id)
    ibx = IBX.objects.get(code="DC2")
    admin_client.post(
        f"/admin/workvisits/ibx/{ibx.pk}/change/",
        {"code": ibx.code, "name": ibx.name, "timezone": ibx.timezone, "active": ""},
    )
    stale.review_within_24_hours = True
    stale.save()  # with the version it was read with, before the IBX went
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_a_catalogue_cached_in_a_rolled_back_transaction_is_never_read(warm, make_body):
    ibx = IBX.objects.get(code="DC2")
    body = make_body()
    body["details"]["cages"] = [{"id": "DC2:09:999999", "accountNumber": "1234567890"}]
    with pytest.raises(RuntimeError), transaction.atomic():
        cage = Cage.objects.create(cage_id="DC2:09:999999", ibx=ibx, organization_id=warm.organization_id)
        cage.accounts.add(Account.objects.get(number="1234567890"))
        catalogue_changed([warm.organization_id])
        assert _create(warm, body) == {}  # cached under a version of this transaction
        raise RuntimeError("roll back")
    assert _create(warm, body) == {"details.cages[0].id": rules.INVALID}
    assert not Order.objects.filter(cages__cage__cage_id="DC2:09:999999").exists()


# ---------------------------------------------------------------------------------------------
# Cost, and the cache down.
def _members_body(make_body, orderer, n):
    """A body with n cages (each granted on its own), n registered visitors and n notification contacts."""
    dc2, account = IBX.objects.get(code="DC2"), Account.objects.get(number="1234567890")
    cages, members = [], []
    for i in range(n):
        cage, _ = Cage.objects.get_or_create(cage_id=f"DC2:05:{i:06d}", ibx=dc2, organization=account.organization)
        cage.accounts.add(account)
        OrderingGrant.objects.get_or_create(user=orderer, cage=cage)
        cages.append(cage.cage_id)
        member, _ = User.objects.get_or_create(username=f"member-{i}", organization=account.organization)
        members.append(member.username)
    catalogue_changed([orderer.organization_id])
    body = make_body()
    body["details"]["cages"] = [{"id": c, "accountNumber": account.number} for c in cages]
    body["details"]["visitors"] = [{"registeredUsers": [m]} for m in members]
    body["contacts"] = [{"type": "NOTIFICATION", "registeredUsers": [m]} for m in members]
    return body


def test_a_create_costs_the_same_queries_for_1_and_20_cages_visitors_and_contacts(orderer, make_body):
    OrderingGrant.objects.filter(user=orderer).delete()  # only the per-cage grants below
    counts = {}
    for n in (1, 20):
        body = _members_body(make_body, orderer, n)
        assert _create(orderer, body) == {}  # the catalogue cached
        with CaptureQueriesContext(connection) as queries:
            assert _create(orderer, body) == {}
        counts[n] = len(queries.captured_queries)
        order = Order.objects.latest("pk")
        assert (order.cages.count(), order.visitors.count(), order.contacts.count()) == (n, n, n + 1)
    assert counts[1] == counts[20]


def test_with_the_cache_down_orders_are_still_taken(orderer, make_body, settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    assert _create(orderer, make_body()) == {}
    assert _create(orderer, make_body()) == {}
    OrderingGrant.objects.filter(user=orderer, ibx__code="DC2").delete()
    assert _create(orderer, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}
