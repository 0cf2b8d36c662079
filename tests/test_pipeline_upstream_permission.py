"""The data centre refuses an order for want of a permission (403, EQ-2012006): the order is REJECTED after
that one attempt, with the upstream's reasons, and never looked up or sent again."""

import json

import pytest

from tests.pipeline_harness import CREATE, SEARCH, Sandbox
from tests.sandbox_support import REPO
from workvisits import services, submission
from workvisits.choices import EventKind, OrderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def globex_only_sandbox(settings, tmp_path):
    """The sandbox with the portal's upstream user allowed to order on Globex's accounts only."""
    data = json.loads((REPO / "sandbox" / "data" / "demo.json").read_text())
    for user in data["users"]:
        if user["userName"] == data["apiUser"]:
            user["organizations"] = ["Globex Inc"]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data))
    server = Sandbox(data=str(path))
    settings.UPSTREAM_BASE_URL = server.url
    yield server
    server.stop()


def test_a_permission_refusal_rejects_the_order_after_one_attempt_with_the_reason(globex_only_sandbox, orderer,
                                                                                   make_body):
    order = services.order_create(user=orderer, data=make_body())

    assert submission.order_submit(order_pk=order.pk).result == "rejected"
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED and order.submit_attempts == 1
    [create] = globex_only_sandbox.calls(CREATE)
    assert create["status"] == 403
    reasons = {r["property"]: r["reason"] for r in order.rejection_reasons}
    assert reasons["details.cages[0].id"] == "You have no work-visit permission on cage DC2:01:123456."
    assert order.events.filter(kind=EventKind.REJECTED).count() == 1
    assert globex_only_sandbox.calls(SEARCH) == [] and globex_only_sandbox.orders() == []
