"""Structured logging: every line a request writes is JSON carrying the request's X-Correlation-ID."""

import io
import json
import logging

import pytest

from tests.admin_helpers import order_in, post_action
from workvisits.choices import OrderStatus


@pytest.fixture
def log_output():
    """What the configured console handler writes (JSON with the correlation filter), captured."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "name", "") == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_every_line_of_a_request_carries_its_correlation_id(client, users, orderer, make_body, log_output):
    order = order_in(OrderStatus.PENDING_REVIEW, orderer, make_body)
    client.force_login(users["reviewer"])
    log_output.truncate(0)
    log_output.seek(0)
    response = post_action(client, "approve_orders", order, headers={"X-Correlation-ID": "review-4711"})
    assert response["X-Correlation-ID"] == "review-4711"
    lines = [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]
    assert any(f"order {order.order_id} approved by reviewer" in line["message"] for line in lines), lines
    assert {line["correlation_id"] for line in lines} == {"review-4711"}
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_a_request_without_an_id_gets_a_fresh_one_on_its_lines_and_response(client, log_output):
    response = client.get("/healthz")
    assert len(response["X-Correlation-ID"]) == 32
    unsafe = client.get("/healthz", HTTP_X_CORRELATION_ID="bad id\nwith newline")
    assert unsafe["X-Correlation-ID"] != "bad id\nwith newline"
