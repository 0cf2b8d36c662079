"""The upstream client against the sandbox: one cached token, one refetch on 401, typed errors,
every call logged with secrets and personal details redacted."""

import httpx
import pytest

from tests.pipeline_harness import Sandbox, free_port
from workvisits.models import UpstreamCall
from workvisits.upstream.client import UpstreamClient
from workvisits.upstream.errors import PermanentUpstreamError, TransientUpstreamError

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox():
    server = Sandbox(step_seconds=0)
    yield server
    server.stop()


def _tokens(sandbox) -> int:
    return sum(r["path"] == "/oauth2/v1/token" for r in sandbox.state()["requests"])


def test_token_is_fetched_once_and_again_once_on_401(sandbox, make_body):
    client = UpstreamClient(base_url=sandbox.url)
    order_id = client.create_work_visit(make_body())
    assert order_id.startswith("1-")
    assert client.get_order(order_id)["status"] == "RECEIVED"
    assert UpstreamClient(base_url=sandbox.url).get_order(order_id)["orderId"] == order_id  # another process
    assert _tokens(sandbox) == 1

    httpx.post(f"{sandbox.url}/_sandbox/expire-tokens")
    assert client.get_order(order_id)["orderId"] == order_id
    assert _tokens(sandbox) == 2
    statuses = [c.status_code for c in UpstreamCall.objects.order_by("id")]
    assert statuses == [200, 201, 200, 200, 401, 200, 200]


def test_wrong_credentials_are_not_retried_forever(sandbox):
    client = UpstreamClient(base_url=sandbox.url, client_id="sandbox-client", client_secret="wrong")
    with pytest.raises(TransientUpstreamError) as caught:
        client.list_locations()
    assert caught.value.status == 401


def test_errors_are_typed_and_carry_the_upstream_reasons(sandbox, make_body):
    client = UpstreamClient(base_url=sandbox.url)
    with pytest.raises(PermanentUpstreamError) as caught:
        client.create_work_visit(make_body(description="short"))
    assert caught.value.status == 400
    assert {"property": "description", "reason": "description must be 10 to 4000 characters long; it has 5."} in (
        caught.value.reasons()
    )
    sandbox.fault("503", count=1, match="/colocations", retryAfter=7)
    with pytest.raises(TransientUpstreamError) as caught:
        client.list_locations()
    assert caught.value.retry_after == 7 and not caught.value.ambiguous
    sandbox.fault("drop", count=1, match="/colocations")
    with pytest.raises(TransientUpstreamError) as caught:
        client.create_work_visit(make_body())
    assert caught.value.ambiguous  # the upstream created it, the answer was lost
    with pytest.raises(PermanentUpstreamError) as caught:
        client.get_order("1-00000000")
    assert caught.value.status == 404 and caught.value.errors[0]["errorCode"] == "EQ-2014005"
    unreachable = UpstreamClient(base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientUpstreamError) as caught:
        unreachable.list_locations()
    assert not caught.value.ambiguous and caught.value.status is None


def test_calls_are_logged_redacted(sandbox, make_body):
    client = UpstreamClient(base_url=sandbox.url)
    body = make_body(
        contacts=[
            {
                "type": "TECHNICAL",
                "firstName": "Nina",
                "lastName": "Night",
                "companyName": "Fixit",
                "details": [{"type": "EMAIL", "value": "nina@fixit.example"}],
                "availability": "ANYTIME",
                "timezone": "Europe/Amsterdam",
            }
        ]
    )
    client.create_work_visit(body)
    token_call, create_call = UpstreamCall.objects.order_by("id")
    assert token_call.request_body["client_secret"] == "***"
    assert "access_token" in token_call.response_body and client.token() not in token_call.response_body
    contact = create_call.request_body["contacts"][0]
    assert contact["firstName"] == "***" and contact["details"][0]["value"] == "***"
    assert create_call.request_body["description"] == body["description"]
    assert create_call.duration_ms >= 0 and len(create_call.correlation_id) >= 8


def test_locations_and_attachments(sandbox):
    client = UpstreamClient(base_url=sandbox.url)
    locations = client.list_locations()
    dc2 = next(i for i in locations["data"] if i["ibx"] == "DC2")
    assert dc2["timezone"] == "America/New_York"
    cage = next(c for c in dc2["cages"] if c["cage"] == "DC2:01:123456")
    assert cage["accounts"][0]["cabinets"][0]["cabinet"] == "DC2:01:123456:0101"
    attachment_id = client.upload_attachment("notes.txt", b"Bring the spare PSU.", "text/plain")
    assert sandbox.state()["attachments"][attachment_id]["name"] == "notes.txt"
    with pytest.raises(PermanentUpstreamError):
        client.upload_attachment("fake.pdf", b"not a pdf", "application/pdf")
