"""The password reset: the request only enqueues (the same work for a known and an unknown address), and
it is rate-limited per address and per account."""

import uuid

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from workvisits import tasks, throttles


@pytest.fixture
def person(users):
    """A member with an address of their own, so no other test has counted resets of it."""
    user = users["technician"]
    user.email = f"tess-{uuid.uuid4().hex[:8]}@acme.example"
    user.save()
    return user


def _caller() -> str:
    return f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _reset(client, email, caller="192.0.2.10"):
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=caller)


def test_a_known_address_costs_the_request_the_same_work_as_an_unknown_one(client, person, published_tasks):
    caller = _caller()
    with CaptureQueriesContext(connection) as known:
        known_response = _reset(client, person.email, caller)
    with CaptureQueriesContext(connection) as unknown:
        unknown_response = _reset(client, f"nobody-{uuid.uuid4().hex[:8]}@acme.example", caller)
    assert known_response.status_code == unknown_response.status_code == 302
    assert known_response.url == unknown_response.url
    assert len(known) == len(unknown)
    assert [sql["sql"] for sql in known] == [sql["sql"] for sql in unknown]
    assert mail.outbox == []  # nothing sent in the request
    assert [name for name, _ in published_tasks] == ["workvisits.send_password_reset"] * 2
    for _, args in published_tasks:
        tasks.send_password_reset(*args)
    assert [m.to for m in mail.outbox] == [[person.email]]


def test_resets_of_one_account_are_limited_without_telling_the_caller(client, person, published_tasks):
    limit = throttles.PASSWORD_RESET_PER_ACCOUNT.limit
    for _ in range(limit + 2):
        response = _reset(client, person.email.upper(), caller=_caller())
        assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(published_tasks) == limit


def test_resets_from_one_address_are_limited_with_a_clear_message(client, person, published_tasks):
    limit = throttles.PASSWORD_RESET_PER_ADDRESS.limit
    caller = _caller()
    for i in range(limit):
        assert _reset(client, f"person{i}-{uuid.uuid4().hex[:6]}@acme.example", caller=caller).status_code == 302
    refused = _reset(client, person.email, caller=caller)
    assert refused.status_code == 429
    assert "Too many password reset requests" in refused.content.decode()
    assert len(published_tasks) == limit
    assert _reset(client, person.email, caller=_caller()).status_code == 302
