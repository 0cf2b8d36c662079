"""Unused uploads of the organization cost a change of an order nothing: no attachment is loaded."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workvisits import rules, services
from workvisits.models import Attachment

pytestmark = pytest.mark.django_db


def test_a_change_loads_none_of_many_unused_uploads(orderer, make_body):
    order = services.order_create(user=orderer, data=make_body())
    Attachment.objects.bulk_create(
        Attachment(
            organization_id=orderer.organization_id,
            uploaded_by=orderer,
            name=f"scan-{i}.pdf",
            file=f"attachments/{orderer.organization_id}/unused-{i}",
            size=100,
            content_type="application/pdf",
        )
        for i in range(2000)
    )
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    body = {
        "details": {
            "visitStartDateTime": rules.format_datetime(start),
            "visitEndDateTime": rules.format_datetime(start + timedelta(hours=2)),
        }
    }
    with CaptureQueriesContext(connection) as captured:
        services.order_modify(user=orderer, order_id=order.order_id, data=body)
    read = [q["sql"] for q in captured.captured_queries if 'FROM "workvisits_attachment"' in q["sql"]]
    # Only the order's own attachments (its prefetch, by order id), never the organization's uploads.
    assert all('"workvisits_attachment"."order_id" IN' in sql for sql in read), read
