"""The upstream client against the sandbox process: the wire as UPSTREAM_WIRE.md describes it, one
cached token and one refetch on 401, errors typed by what they say about the upstream's state, every
call logged with secrets and personal details redacted."""

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.mock_upstream import mock_upstream  # noqa: F401
from tests.pipeline_harness import CREATE, free_port, sandbox_fixture  # noqa: F401
from tests.sandbox_support import visit_body
from workvisits.models import UpstreamCall
from workvisits.upstream import ratelimit
from workvisits.upstream.client import UpstreamClient, order_id_from_location, token_lifetime
from workvisits.upstream.errors import PermanentUpstreamError, TransientUpstreamError

pytestmark = pytest.mark.django_db


def _tokens(sandbox) -> int:
    return len(sandbox.calls("POST /oauth2/v1/token"))


def test_token_is_fetched_once_and_again_once_on_401(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    order_id = client.create_work_visit(visit_body())
    assert order_id.startswith("1-")
    assert client.get_order(order_id)["status"] == "RECEIVED"
    assert UpstreamClient(base_url=sandbox.url).get_order(order_id)["orderId"] == order_id  # another process
    assert _tokens(sandbox) == 1

    sandbox.expire_tokens()
    assert client.get_order(order_id)["orderId"] == order_id
    assert _tokens(sandbox) == 2
    statuses = [c.status_code for c in UpstreamCall.objects.order_by("id")]
    assert statuses == [200, 201, 200, 200, 401, 200, 200]


def test_the_token_lifetime_is_read_from_its_leading_digits():
    assert token_lifetime("3599") == 3599
    assert token_lifetime("3599 seconds") == 3599
    assert token_lifetime("never") == 0 and token_lifetime(None) == 0
    assert order_id_from_location("/orders/1-23232322") == "1-23232322"
    assert order_id_from_location("https://api.example/colocations/v2/orders/1-5?x=1") == "1-5"
    assert order_id_from_location("") is None


def test_every_call_carries_a_correlation_id_and_a_compact_body(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    client.create_work_visit({**visit_body(), "purchaseOrder": None}, correlation_id="corr-4711")
    create = sandbox.calls(CREATE)[0]
    headers = {k.lower(): v for k, v in create["headers"].items()}
    assert headers["x-correlation-id"] == "corr-4711" and headers["content-type"] == "application/json"
    assert "purchaseOrder" not in create["body"]
    token = sandbox.calls("POST /oauth2/v1/token")[0]
    assert "authorization" not in {k.lower() for k in token["headers"]}


def test_wrong_credentials_are_a_definite_failure_not_a_rejection(sandbox):
    client = UpstreamClient(base_url=sandbox.url, client_id="sandbox-client", client_secret="wrong")
    with pytest.raises(TransientUpstreamError) as caught:
        client.get_order("1-00000000")
    assert caught.value.status == 401
    assert not caught.value.ambiguous


def test_errors_are_typed_by_what_the_upstream_may_have_done(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    with pytest.raises(PermanentUpstreamError) as caught:
        client.create_work_visit(visit_body(description="short"))
    assert caught.value.status == 400
    assert any(r["property"] == "description" for r in caught.value.reasons())
    for kind, ambiguous in (
        ("503", False),
        ("408", False),
        ("500", True),
        ("502", True),
        ("504", True),
        ("drop", True),
    ):
        sandbox.fault(kind, count=1, match=CREATE)
        with pytest.raises(TransientUpstreamError) as caught:
            client.create_work_visit(visit_body())
        assert caught.value.ambiguous is ambiguous, kind
    sandbox.fault("429", count=1, match=CREATE, retryAfter=1)
    with pytest.raises(TransientUpstreamError) as caught:
        client.create_work_visit(visit_body())
    assert caught.value.retry_after == 1 and not caught.value.ambiguous
    ratelimit.acquire()  # the pause it set is over before the next test's calls
    with pytest.raises(PermanentUpstreamError) as caught:
        client.get_order("1-00000000")
    assert caught.value.status == 404 and caught.value.errors[0]["errorCode"] == "EQ-2014005"
    unreachable = UpstreamClient(base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientUpstreamError) as caught:
        unreachable.get_order("1-00000000")
    assert not caught.value.ambiguous and caught.value.status is None


def test_calls_are_logged_redacted(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    body = visit_body(
        contacts=[
            {
                "type": "TECHNICAL",
                "firstName": "Nina",
                "lastName": "Night",
                "details": [{"type": "EMAIL", "value": "nina@fixit.example"}],
            }
        ]
    )
    before, started = datetime.now(UTC), time.monotonic()
    client.create_work_visit(body)
    elapsed_ms, after = (time.monotonic() - started) * 1000, datetime.now(UTC)
    token_call, create_call = UpstreamCall.objects.order_by("id")
    assert token_call.request_body["client_secret"] == "***"
    assert "access_token" in token_call.response_body and client.token() not in token_call.response_body
    contact = create_call.request_body["contacts"][0]
    assert contact["firstName"] == "***" and contact["details"][0]["value"] == "***"
    assert create_call.request_body["description"] == body["description"]
    # The call as it went: when it left, how long it took (within the test's own watch), the id it carried.
    assert before <= create_call.started_at <= after and create_call.duration_ms <= elapsed_ms
    sent = {k.lower(): v for k, v in sandbox.calls(CREATE)[0]["headers"].items()}
    assert create_call.correlation_id == sent["x-correlation-id"]


def test_attachments_and_the_order_search(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    attachment_id = client.upload_attachment("notes.txt", b"Bring the spare PSU.")
    upload = sandbox.calls("POST /v1/attachments/file")[0]
    assert upload["status"] == 201
    assert [a["attachmentId"] for a in sandbox.state()["attachments"]] == [attachment_id]
    order_id = client.create_work_visit(visit_body(customerReferenceId="FIND-ME-1"))
    found = client.search_orders("FIND-ME-1", ibx="DC2")
    assert [o["orderNumber"] for o in found["content"]] == [order_id]
    sandbox.settings(nosearch=True)
    with pytest.raises(PermanentUpstreamError) as caught:
        client.search_orders("FIND-ME-1")
    assert caught.value.status == 404


# ---------------------------------------------------------------------------------------------
# Answers the sandbox does not give, from an upstream answered in this process.
@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_create_answered_by_any_2xx_with_a_location_gives_the_order_id(mock_upstream, status):  # noqa: F811
    mock_upstream(lambda request: httpx.Response(status, headers={"Location": "/orders/1-777"}))
    assert UpstreamClient().create_work_visit(visit_body()) == "1-777"


@pytest.mark.parametrize(("status", "headers"), [(200, {}), (201, {"Location": "/somewhere/else"})])
def test_a_create_answered_2xx_without_a_readable_location_is_ambiguous(mock_upstream, status, headers):  # noqa: F811
    mock_upstream(lambda request: httpx.Response(status, headers=headers))
    with pytest.raises(TransientUpstreamError) as caught:
        UpstreamClient().create_work_visit(visit_body())
    assert caught.value.ambiguous


def test_an_order_history_content_of_one_object_is_read_as_one_order(mock_upstream):  # noqa: F811
    item = {"orderNumber": "1-888", "customerReferenceNumbers": ["FIND-ME-2"], "ibx": ["DC2"]}
    mock_upstream(lambda request: httpx.Response(200, json={"content": item, "page": {}}))
    assert UpstreamClient().search_orders("FIND-ME-2")["content"] == [item]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(204),
        httpx.Response(200, content=b"<html>gateway</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json=["not", "an", "order"]),
    ],
)
def test_an_order_read_that_is_not_a_json_object_is_this_order_s_problem_not_the_upstream_s(mock_upstream, answer):  # noqa: F811
    """Read as "this order cannot be read now" (the status sync moves on), not a crash or an outage."""
    mock_upstream(lambda request: answer)
    with pytest.raises(PermanentUpstreamError):
        UpstreamClient().get_order("1-1")


@pytest.mark.parametrize("status", [["RECEIVED"], {"name": "RECEIVED"}, 7, None, "SHIPPED"])
def test_an_order_status_that_is_not_one_of_the_enum_reads_as_unknown(mock_upstream, status):  # noqa: F811
    mock_upstream(lambda request: httpx.Response(200, json={"orderId": "1-1", "status": status}))
    assert UpstreamClient().get_order("1-1")["status"] is None


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(204), httpx.Response(200, content=b"<html>gateway</html>", headers={"Content-Type": "text/html"})],
)
def test_an_order_history_answer_that_is_not_json_cannot_answer(mock_upstream, answer):  # noqa: F811
    mock_upstream(lambda request: answer)
    with pytest.raises(PermanentUpstreamError):  # the submission reads it as "the search cannot answer"
        UpstreamClient().search_orders("FIND-ME-3")


def test_a_cancellation_carries_its_attachments(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    order_id = client.create_work_visit(visit_body())
    letter = client.upload_attachment("letter.pdf", b"%PDF-1.4 letter")
    client.cancel_order(order_id, "Plans changed, no visit.", attachments=[{"id": letter, "name": "letter.pdf"}])
    [cancel] = sandbox.calls(f"POST /colocations/v2/orders/{order_id}/cancel")
    sent = {"reason": "Plans changed, no visit.", "attachments": [{"id": letter, "name": "letter.pdf"}]}
    assert cancel["body"] == sent
    assert cancel["status"] in (202, 204)


def test_the_locations_import_asks_lookup_v2_for_the_details_and_gets_the_sandbox_s_cages(sandbox, demo):
    from workvisits.locations import import_locations_from_upstream
    from workvisits.models import Cage

    sync = import_locations_from_upstream()
    assert not sync.errors or all("refused" not in str(e) for e in sync.errors), sync.errors
    [lookup] = sandbox.calls("GET /colocations/v2/locations")
    assert "details=true" in lookup["query"] and "permissionCode=WORK_VISIT" in lookup["query"]
    assert Cage.objects.filter(cage_id="DC2:01:123456", active=True).exists()
