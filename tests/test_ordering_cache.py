"""The cached ordering facts (workvisits.catalogue): every change of the catalogue, the grants or the
users is seen by the very next create, also when the facts were cached before (real Redis cache)."""

import json
import socket
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.api_support import Api
from workvisits import catalogue, locations, rules, selectors, services
from workvisits.models import IBX, Account, Cabinet, Cage, Order, OrderingGrant, Organization

DC2_CAGE, DC2_CABINET = "DC2:01:123456", "DC2:01:123456:0101"


def _create(user, body):
    """The create's error codes by path, or {} when it was stored."""
    try:
        services.order_create(user=user, data=body)
    except rules.RuleViolation as exc:
        return {e.path: e.code for e in exc.errors}
    return {}


@pytest.fixture
def warm(orderer, make_body):
    """One create stored, so that the orderer's facts are in the cache."""
    assert _create(orderer, make_body()) == {}
    with CaptureQueriesContext(connection) as queries:
        selectors.ordering_context(orderer, attachment_ids=[])
    assert len(queries.captured_queries) == 1  # only the catalogue version: the facts came from the cache
    return orderer


def test_the_facts_live_in_the_cache_keyed_by_the_organizations_version(warm):
    version = catalogue.catalogue_version(warm.organization_id)
    facts = cache.get(f"wv:ordering:1:{warm.organization_id}:{version}:catalogue")
    assert isinstance(facts, catalogue.OrganizationFacts)
    assert facts.cage_ids[DC2_CAGE].pk == Cage.objects.get(cage_id=DC2_CAGE).pk
    assert DC2_CAGE in cache.get(f"wv:ordering:1:{warm.organization_id}:{version}:orderable:{warm.pk}")


def test_a_revoked_grant_refuses_the_next_create(warm, make_body):
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").delete()
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_a_new_grant_lets_the_user_order_at_once(viewer, make_body):
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": ["viewer"]}]
    assert _create(viewer, body) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}  # now cached
    OrderingGrant.objects.create(user=viewer, cage=Cage.objects.get(cage_id=DC2_CAGE))
    assert _create(viewer, body) == {}


def test_a_retired_cage_is_unknown_to_the_next_create(warm, make_body):
    cage = Cage.objects.get(cage_id=DC2_CAGE)
    cage.active = False
    cage.save()
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.INVALID}


def test_a_deactivated_ibx_refuses_the_next_create(warm, make_body):
    ibx = IBX.objects.get(code="DC2")
    ibx.active = False
    ibx.save()
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_an_account_put_on_credit_hold_refuses_the_next_create(warm, make_body):
    account = Account.objects.get(number="1234567890")
    account.is_credit_hold = True
    account.save()
    assert _create(warm, make_body()) == {"details.cages[0].accountNumber": rules.INVALID}


def test_an_account_taken_off_the_cage_refuses_the_next_create(warm, make_body):
    Cage.objects.get(cage_id=DC2_CAGE).accounts.remove(Account.objects.get(number="1234567890"))
    assert _create(warm, make_body()) == {"details.cages[0].accountNumber": rules.INVALID}


def test_a_retired_cabinet_refuses_the_next_create(warm, make_body):
    cabinet = Cabinet.objects.get(cabinet_id=DC2_CABINET)
    cabinet.active = False
    cabinet.save()
    assert _create(warm, make_body()) == {"details.cages[0].cabinetId": rules.INVALID}


def test_a_deactivated_user_is_no_visitor_for_the_next_create(warm, users, make_body):
    body = make_body()
    body["details"]["visitors"] = [{"registeredUsers": ["technician"]}]
    assert _create(warm, body) == {}
    users["technician"].is_active = False
    users["technician"].save()
    assert set(_create(warm, body).values()) == {rules.INVALID}


def test_a_login_keeps_the_cached_facts(warm, client):
    before = catalogue.catalogue_version(warm.organization_id)
    response = client.post(reverse("login"), {"username": "technician", "password": "technician-demo-pass"})
    assert response.status_code == 302 and warm.__class__.objects.get(username="technician").last_login
    assert catalogue.catalogue_version(warm.organization_id) == before


def test_saving_an_organization_read_earlier_never_brings_an_old_version_back(warm, make_body):
    stale = Organization.objects.get(pk=warm.organization_id)
    read_with = str(stale.catalogue_version)
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").delete()
    stale.review_within_24_hours = True
    stale.save()  # with the version it was read with, before the grant went
    assert catalogue.catalogue_version(warm.organization_id) != read_with
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


def test_facts_cached_in_a_rolled_back_transaction_are_never_read(warm, make_body):
    ibx = IBX.objects.get(code="DC2")
    body = make_body()
    body["details"]["cages"] = [{"id": "DC2:09:999999", "accountNumber": "1234567890"}]
    with pytest.raises(RuntimeError), transaction.atomic():
        cage = Cage.objects.create(cage_id="DC2:09:999999", ibx=ibx, organization_id=warm.organization_id)
        cage.accounts.add(Account.objects.get(number="1234567890"))
        assert _create(warm, body) == {}  # its facts are cached under a version of this transaction
        raise RuntimeError("roll back")
    assert _create(warm, body) == {"details.cages[0].id": rules.INVALID}
    assert not Order.objects.filter(cages__cage__cage_id="DC2:09:999999").exists()


def test_a_locations_import_that_retires_a_cage_forgets_it_at_once(warm):
    assert "AM1:02:200101" in selectors.ordering_context(warm).cages
    answer = json.loads((Path(__file__).parent / "data" / "upstream_locations.json").read_text())
    sync = locations.import_locations_answer(answer=answer)
    assert "AM1:02:200101" in sync.summary["cages"]["retired"]  # by a bulk update, which sends no signal
    assert "AM1:02:200101" not in selectors.ordering_context(warm).cages


def test_with_the_cache_down_orders_are_still_taken_from_the_database(orderer, make_body, settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with pytest.raises(Exception):  # noqa: B017 (whatever redis-py raises for a refused connection)
        cache.get("anything")
    assert _create(orderer, make_body()) == {}
    OrderingGrant.objects.filter(user=orderer, ibx__code="DC2").delete()
    assert _create(orderer, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}


# ---------------------------------------------------------------------------------------------
# The process-memory layer in front of the cache, and the version read with the API token.
class _Unreachable:
    """A cache that must not be asked (the facts come from process memory) or is down."""

    def __init__(self):
        self.asked = 0

    def get_many(self, keys):
        self.asked += 1
        raise ConnectionError("the cache is down")

    set_many = get_many


def test_the_facts_are_served_from_process_memory_and_a_change_is_seen_at_once(warm, make_body, monkeypatch):
    unreachable = _Unreachable()
    monkeypatch.setattr(catalogue, "cache", unreachable)
    with CaptureQueriesContext(connection) as queries:
        assert DC2_CAGE in selectors.ordering_context(warm, attachment_ids=[]).orderable
    assert len(queries.captured_queries) == 1 and unreachable.asked == 0  # the version only
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").delete()  # a new version
    assert _create(warm, make_body()) == {"details.cages[0].id": rules.NO_CREATE_PERMISSION}
    assert unreachable.asked == 1  # not in process memory under the new version: built from the database


def test_process_memory_holds_one_version_per_organization_and_the_last_used_organizations():
    recent = catalogue._Recent(organizations=2)
    recent.put(1, "v1", 10, "facts-1", frozenset({"A"}))
    assert recent.get(1, "v1", 10) == ("facts-1", frozenset({"A"}))
    assert recent.get(1, "v1", 11) == ("facts-1", None)  # another user: only the catalogue
    assert recent.get(1, "v2", 10) == (None, None)
    recent.put(1, "v2", 11, "facts-1b", frozenset())
    assert recent.get(1, "v1", 10) == (None, None)  # the old version is gone with its users
    assert recent.get(1, "v2", 11) == ("facts-1b", frozenset())
    recent.put(2, "v1", 10, "facts-2", frozenset())
    recent.get(1, "v2", 11)  # organization 1 used last: 2 is the one to go
    recent.put(3, "v1", 10, "facts-3", frozenset())
    assert recent.get(2, "v1", 10) == (None, None)
    assert recent.get(1, "v2", 11)[0] == "facts-1b" and recent.get(3, "v1", 10)[0] == "facts-3"


def test_the_organization_state_noted_by_the_token_check_is_used_once(warm, users):
    organization = Organization.objects.get(pk=warm.organization_id)
    catalogue.remember_organization_state(warm, organization)
    with CaptureQueriesContext(connection) as queries:
        catalogue.ordering_facts(warm)
    assert len(queries.captured_queries) == 0
    with CaptureQueriesContext(connection) as queries:
        catalogue.ordering_facts(warm)  # taken: the version is selected again
    assert len(queries.captured_queries) == 1
    catalogue.remember_organization_state(warm, users["globex"].organization)  # not the user's organization
    with CaptureQueriesContext(connection) as queries:
        assert DC2_CAGE in catalogue.ordering_facts(warm).orderable
    assert len(queries.captured_queries) == 1


def test_an_api_create_reads_the_catalogue_version_only_with_the_token(warm, make_body):
    api = Api(warm)
    assert api.post("/colocations/v2/orders/workVisits", make_body()).status_code == 201
    OrderingGrant.objects.filter(user=warm, ibx__code="DC2").delete()
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/colocations/v2/orders/workVisits", make_body())
    assert response.status_code == 403, response.json()  # the change is seen by the very next request
    assert sum('"catalogue_version"' in q["sql"] for q in queries.captured_queries) == 1
