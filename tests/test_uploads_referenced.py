"""Unused uploads of the organization cost a change of an order nothing: no attachment is loaded."""

import re
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
    _many_unused_uploads(orderer)
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    body = {
        "details": {
            "visitStartDateTime": rules.format_datetime(start),
            "visitEndDateTime": rules.format_datetime(start + timedelta(hours=2)),
        }
    }
    with CaptureQueriesContext(connection) as captured:
        services.order_modify(user=orderer, order_id=order.order_id, data=body)
    # Every read of attachments is of the order's own, by its order id (the ORM's prefetch, or the subquery of
    # the one-statement read of the order), never the organization's uploads.
    reads = [where for q in captured.captured_queries for where in ATTACHMENT_READ.findall(q["sql"])]
    assert reads
    for table_alias, where in reads:
        column = f'{table_alias}."order_id"' if table_alias else '"workvisits_attachment"."order_id"'
        assert where.startswith((f"{column} IN", f'{column} = p."id"')), where


# A read of the attachments table: its alias, if any, and its WHERE clause (up to the subquery's end).
ATTACHMENT_READ = re.compile(r'FROM "workvisits_attachment"(?: (\w+))? (?:[^()]|\([^()]*\))*?WHERE ([^)]*)')


def _many_unused_uploads(user, count=2000):
    Attachment.objects.bulk_create(
        Attachment(
            organization_id=user.organization_id,
            uploaded_by=user,
            name=f"scan-{i}.pdf",
            file=f"attachments/{user.organization_id}/unused-{i}",
            size=100,
            content_type="application/pdf",
        )
        for i in range(count)
    )


def test_the_wizard_loads_only_the_attachments_the_order_names(client, orderer, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.test_web_wizard import DETAILS, all_steps, step_url, walk

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    client.force_login(orderer)
    named = client.post(reverse("wizard_upload"), {"file": SimpleUploadedFile("notes.txt", b"Rack U12.")}).json()["id"]
    _many_unused_uploads(orderer)
    steps = all_steps(details={**DETAILS, "details-attachments": [named]})
    failed, _ = walk(client, steps[:4])
    assert failed is None
    with CaptureQueriesContext(connection) as captured:
        failed, response = walk(client, steps[4:5])  # the details step, naming one upload
        assert failed is None
        review = client.get(step_url("review"))
    assert review.status_code == 200 and "notes.txt" in review.content.decode()
    read = [q["sql"] for q in captured.captured_queries if 'FROM "workvisits_attachment"' in q["sql"]]
    assert read and all('"workvisits_attachment"."id" IN' in sql for sql in read), read
