"""No request forgery: loopback, private, link-local and other non-global targets are refused at
registration, and again at delivery after the DNS lookup, unless the tests' switch is on."""

import subprocess

import pytest

from tests.webhooks_support import Receiver, make_webhook_admin
from workvisits import rules, services, webhooks
from workvisits.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

REFUSED = [
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://10.20.30.40/hook", "10.20.30.40 is a private address"),
    ("https://192.168.1.1:8443/hook", "192.168.1.1 is a private address"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("https://[::1]/hook", "::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1 is a loopback address"),
    ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("https://100.64.0.1/hook", "100.64.0.1 is not a public address"),
    ("https://0.0.0.0/hook", "0.0.0.0 is"),
    ("https://localhost/hook", "localhost resolves to"),
]


@pytest.fixture
def admin(orderer):
    return make_webhook_admin(orderer)


def test_non_public_targets_are_refused_at_registration(admin, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    for url, why in REFUSED:
        with pytest.raises(rules.RuleViolation) as caught:
            webhooks.endpoint_create(user=admin, url=url, events=["order.placed"])
        [error] = caught.value.errors
        assert error.path == "url" and why in error.message and "public addresses" in error.message, url
    assert not WebhookEndpoint.objects.exists()
    # A public address is accepted (an address literal: no DNS needed).
    endpoint, _ = webhooks.endpoint_create(user=admin, url="https://93.184.215.14/hook", events=["order.placed"])
    assert endpoint.active


def test_a_target_that_became_private_is_refused_at_delivery_and_never_contacted(admin, settings, make_body):
    """Registered while allowed (as a name that later resolves to loopback would be); at delivery the
    resolved address is checked again and no connection is made."""
    with Receiver() as receiver:
        settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
        url = receiver.url.replace("127.0.0.1", "localhost")
        webhooks.endpoint_create(user=admin, url=url, events=["order.placed"])
        services.order_create(user=admin, data=make_body())
        delivery = WebhookDelivery.objects.get()

        settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
        outcome = webhooks.delivery_attempt(delivery_pk=delivery.pk)
        assert receiver.received() == []
    assert outcome.startswith("failed (Refused: localhost resolves to ") and "a loopback address" in outcome
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code is None and "loopback" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == "PENDING" and delivery.attempts == 1 and delivery.next_attempt_at is not None


def test_tls_is_verified_against_the_urls_name_while_the_checked_address_is_dialled(
    admin, settings, make_body, tmp_path, monkeypatch
):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = (
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost"
    )
    subprocess.run([*command.split(), "-keyout", key, "-out", cert], check=True, capture_output=True)  # noqa: S603
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    monkeypatch.setattr(webhooks.transport, "verify", str(cert))  # the test's own certificate authority
    with Receiver(tls=(cert, key)) as receiver:
        by_name, _ = webhooks.endpoint_create(user=admin, url=receiver.url, events=["order.placed"])
        by_address, _ = webhooks.endpoint_create(
            user=admin, url=receiver.url.replace("localhost", "127.0.0.1"), events=["order.placed"]
        )
        services.order_create(user=admin, data=make_body())
        named = WebhookDelivery.objects.get(endpoint=by_name)
        assert webhooks.delivery_attempt(delivery_pk=named.pk) == "delivered (200)"
        [request] = receiver.received()
        assert request["headers"]["Host"] == f"localhost:{receiver.server.server_address[1]}"
        # The certificate names localhost, not 127.0.0.1: verification is on and by the URL's name.
        other = WebhookDelivery.objects.get(endpoint=by_address)
        outcome = webhooks.delivery_attempt(delivery_pk=other.pk)
        assert outcome.startswith("failed (Could not reach the endpoint: ConnectError"), outcome
        assert "CERTIFICATE_VERIFY_FAILED" in outcome or "certificate" in outcome.lower()
        assert len(receiver.received()) == 1
