"""Two modifications of one order at the same moment: one wins, the other gets 409, nothing is lost silently."""

import threading

import httpx
import pytest

from tests.api_support import token_for
from workvisits import services
from workvisits.choices import EventKind
from workvisits.models import Order

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _race(url: str, token: str, bodies: list[dict]) -> list[httpx.Response]:
    """Send the PATCHes at the same moment, each with If-Match: "1"."""
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def patch(i):
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            results[i] = client.patch(
                url, json=bodies[i], headers={"Authorization": f"Bearer {token}", "If-Match": '"1"'}
            )

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_concurrent_patches_one_202_one_409(live_server, orderer, make_body):
    token = token_for(orderer)
    changes = [
        {"details": {"openCabinet": True}},
        {"contacts": [{"type": "NOTIFICATION", "registeredUsers": ["viewer"]}]},
    ]
    for _ in range(3):
        order = services.order_create(user=orderer, data=make_body())
        results = _race(f"{live_server.url}/colocations/v2/orders/workVisits/{order.order_id}", token, changes)

        codes = sorted(r.status_code for r in results)
        assert codes == [202, 409], [r.text for r in results]
        winner = next(i for i, r in enumerate(results) if r.status_code == 202)
        loser = results[1 - winner]
        assert loser.json()[0]["errorCode"] == "EQ-2019009"
        assert loser.json()[0]["correlationId"] == loser.headers["X-Correlation-ID"]

        order = Order.objects.get(pk=order.pk)
        assert order.version == 2
        assert order.events.filter(kind=EventKind.MODIFIED).count() == 1
        notified = set(order.contacts.filter(contact_type="NOTIFICATION").values_list("user__username", flat=True))
        if winner == 0:
            assert order.open_cabinet is True and notified == {"orderer"}
        else:
            assert order.open_cabinet is False and notified == {"orderer", "viewer"}
