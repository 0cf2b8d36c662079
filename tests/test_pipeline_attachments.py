"""The portal keeps its own copy of each attachment and uploads it to the upstream at submit time,
to `/v1/attachments/file` as the multipart part `uploadFile`."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.pipeline_harness import sandbox_fixture  # noqa: F401
from workvisits import services, submission
from workvisits.choices import OrderStatus

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}


def test_attachments_are_uploaded_at_submit_and_referenced_by_the_order(sandbox, storage, orderer, make_body):
    plan = services.attachment_create(user=orderer, uploaded=SimpleUploadedFile("rack-plan.txt", b"Row 3, U12."))
    po = services.attachment_create(user=orderer, uploaded=SimpleUploadedFile("po.pdf", PDF))
    body = make_body(
        attachments=[{"id": str(plan.id), "name": "rack-plan.txt"}],
        purchaseOrder={"type": "NEW", "amount": "200", "attachmentId": str(po.id)},
    )
    order = services.order_create(user=orderer, data=body)

    assert submission.order_submit(order_pk=order.pk).result.startswith("submitted")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    uploads = sandbox.calls("POST /v1/attachments/file")
    assert len(uploads) == 2 and all(u["status"] == 201 for u in uploads)
    uploaded = sandbox.state()["attachments"]
    assert sorted(a["attachmentName"] for a in uploaded) == ["po.pdf", "rack-plan.txt"]
    # The purchase order's document as one (?purpose=PO_DOCUMENT), the other file with no purpose.
    assert {a["attachmentName"]: a["purpose"] for a in uploaded} == {"po.pdf": "PO_DOCUMENT", "rack-plan.txt": None}
    upstream = sandbox.orders()[0]["body"]
    by_name = {a["attachmentName"]: a["attachmentId"] for a in uploaded}
    assert upstream["attachments"] == [{"id": by_name["rack-plan.txt"], "name": "rack-plan.txt"}]
    assert upstream["purchaseOrder"]["attachmentId"] == by_name["po.pdf"]
    # The portal's own ids never leave it: the upstream's are short-lived and tied to the uploader.
    assert str(plan.id) not in str(order.upstream_payload)
