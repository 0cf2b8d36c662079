"""Abuse of storage: files judged by content (zip bombs, macro and PDF payloads), the per-organization
quota of unused uploads, their removal after a day, bodies refused from their length before they are
read, and downloads only for those who may see the order."""

import http.client
import io
import json
import struct
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.api_support import Api, error_props, media_in
from tests.test_api_attachments import CountingStream
from tests.test_api_wire import production_server  # noqa: F401 (fixture)
from workvisits import selectors, services, tasks, uploads
from workvisits.models import Attachment, Order
from workvisits.rules import RuleViolation

pytestmark = pytest.mark.django_db
UPLOAD = "/v1/attachments/file"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 200


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    media_in(settings, tmp_path)


# -- real files -------------------------------------------------------------------------------------
def pdf(*objects: bytes) -> bytes:
    """A well-formed PDF (header, numbered objects, cross-reference table, trailer) of these objects."""
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data)
    return b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n%s\nendstream" % (len(packed), extra, packed)


PAGES = (
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
    stream(b"BT /F1 12 Tf 72 720 Td (Floor plan of cage 01) Tj ET"),
)
PLAIN_PDF = pdf(b"<< /Type /Catalog /Pages 2 0 R >>", *PAGES)
JS_PDF = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>", *PAGES)
# The action's dictionary compressed inside an object stream, where no byte of "/JavaScript" shows.
HIDDEN_JS_PDF = pdf(
    b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
    *PAGES,
    stream(b"6 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>", b"/Type /ObjStm /N 1 /First 4 "),
)
ESCAPED_JS_PDF = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /J#53 (x) >> >>", *PAGES)
EMBEDDED_PDF = pdf(
    b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(run.exe) 5 0 R] >> >> >>",
    *PAGES,
    b"<< /Type /Filespec /F (run.exe) >>",
)


def docx(extra: dict[str, bytes] | None = None, manifest: bool = True) -> bytes:
    """A Word document as Word writes it: an Office Open XML package (a ZIP archive)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest:
            archive.writestr(
                "[Content_Types].xml",
                '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.wordprocessingml.document.main+xml"/></Types>',
            )
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("word/document.xml", "<w:document><w:body><w:p>Method statement</w:p></w:body></w:document>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb_docx(gigabytes: int = 1) -> bytes:
    """A docx of about 1 MB whose document part unpacks to `gigabytes` GB of zeros (a real, valid archive)."""
    megabyte = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(megabyte) + packer.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every MB
    count = 1024 * gigabytes
    deflated = block * count + packer.flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(megabyte, crc)
    parts = [("[Content_Types].xml", b"<Types/>", None), ("word/document.xml", deflated, (crc, count << 20))]
    out, directory = b"", b""
    for name, data, facts in parts:
        raw_name = name.encode()
        if facts is None:
            crc_, size, packed, method = zlib.crc32(data), len(data), data, 0
        else:
            (crc_, size), packed, method = facts, data, 8
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc_, len(packed), size, len(raw_name), 0)
        directory += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0,
                crc_,
                len(packed),
                size,
                len(raw_name),
                0,
                0,
                0,
                0,
                0,
                len(out),
            )
            + raw_name
        )
        out += header + raw_name + packed
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(directory), len(out), 0)
    return out + directory + end


def refusal(response) -> tuple[dict, str]:
    reasons = [info["reason"] for entry in response.json() for info in entry["additionalInfo"]]
    return error_props(response), " ".join(reasons)


# -- content ----------------------------------------------------------------------------------------
def test_real_documents_are_accepted_with_the_type_their_content_shows(orderer):
    api = Api(orderer)
    for name, content, kind in (
        ("method.docx", docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("plan.pdf", PLAIN_PDF, "application/pdf"),
        ("photo.png", PNG, "image/png"),
    ):
        response = api.upload_v1(name, content)
        assert response.status_code == 201, response.content
        assert Attachment.objects.get(pk=response.json()["attachmentId"]).content_type == kind


def test_a_zip_bomb_of_one_megabyte_unpacking_to_one_gigabyte_is_refused_at_the_field(orderer):
    bomb = zip_bomb_docx()
    assert len(bomb) < 2 * 1024 * 1024
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # a real archive: it says what it would unpack to
        assert sum(i.file_size for i in archive.infolist()) > 1 << 30
    response = Api(orderer).upload_v1("plan.docx", bomb)
    assert response.status_code == 400
    props, reasons = refusal(response)
    assert props == {"EQ-2010010": ["uploadFile"]}
    assert "unpacks to 1024 MB" in reasons and "at most 100 MB" in reasons
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "content, words",
    [
        (docx({f"word/media/{i}.xml": b"x" for i in range(uploads.MAX_ARCHIVE_ENTRIES)}), "parts"),
        (docx({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro"}), "macros"),
        (docx(manifest=False), "ZIP archive, not a .docx document"),
        (b"PK\x03\x04" + b"\x00" * 400, "not a readable .docx"),
    ],
    ids=["too-many-parts", "macros", "plain-zip", "broken-zip"],
)
def test_office_files_that_are_not_plain_documents_are_refused(orderer, content, words):
    response = Api(orderer).upload_v1("plan.docx", content)
    assert response.status_code == 400
    props, reasons = refusal(response)
    assert props == {"EQ-2010010": ["uploadFile"]} and words in reasons


@pytest.mark.parametrize(
    "content, words",
    [
        (JS_PDF, "JavaScript"),
        (HIDDEN_JS_PDF, "JavaScript"),
        (ESCAPED_JS_PDF, "JavaScript"),
        (EMBEDDED_PDF, "embedded files"),
    ],
    ids=["open-action", "in-object-stream", "escaped-name", "embedded-file"],
)
def test_pdfs_carrying_javascript_or_files_are_refused_at_the_field(orderer, content, words):
    response = Api(orderer).upload_v1("plan.pdf", content)
    assert response.status_code == 400
    props, reasons = refusal(response)
    assert props == {"EQ-2010010": ["uploadFile"]}
    assert f"uploadFile is a PDF that carries {words}" in reasons
    assert not Attachment.objects.exists()


def test_the_wizard_says_the_reason_in_words_naming_the_file(orderer):
    client = Client()
    client.force_login(orderer)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(reverse("wizard_upload"), {"file": SimpleUploadedFile("site plan.pdf", JS_PDF)})
    assert response.status_code == 400
    [message] = response.json()["errors"]
    assert message.startswith("site plan.pdf is a PDF that carries JavaScript")


def test_content_puremagic_does_not_recognise_as_the_named_type_is_refused(orderer):
    # Starts like an old Office file (OLE) but is a .bmp by name: the first check; a GIF named .png too.
    response = Api(orderer).upload_v1("plan.png", b"GIF89a" + b"\x00" * 100)
    assert response.status_code == 400
    assert "the content is not a .png file" in refusal(response)[1]


# -- quota ------------------------------------------------------------------------------------------
def test_the_quota_of_unused_uploads_counts_files_and_frees_up_when_one_is_used(orderer, make_body, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UNUSED_UPLOADS", 3)
    api = Api(orderer)
    ids = [api.upload_v1(f"p{i}.png", PNG).json()["attachmentId"] for i in range(3)]
    refused = api.upload_v1("p3.png", PNG)
    assert refused.status_code == 400
    props, reasons = refusal(refused)
    assert props == {"EQ-2010010": ["uploadFile"]}
    assert "already keeps 3 uploads no order uses" in reasons and "removed 24 hours after" in reasons
    stored = [f for f in Path(settings.STORAGES["default"]["OPTIONS"]["location"]).rglob("*") if f.is_file()]
    assert Attachment.objects.count() == 3 and len(stored) == 3  # the refused file was not kept

    services.order_create(user=orderer, data=make_body(attachments=[{"id": ids[0]}]))
    assert api.upload_v1("p3.png", PNG).status_code == 201  # one is used by an order now


def test_the_quota_counts_bytes_too(orderer, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UNUSED_UPLOAD_BYTES", 2 * len(PNG) + 10)
    api = Api(orderer)
    assert api.upload_v1("a.png", PNG).status_code == 201
    assert api.upload_v1("b.png", PNG).status_code == 201
    refused = api.upload_v1("c.png", PNG)
    assert refused.status_code == 400 and "MB it may keep" in refusal(refused)[1]
    # Another organization's quota is its own.
    assert Api_for_globex().upload_v1("a.png", PNG).status_code == 201


def Api_for_globex():  # noqa: N802
    from workvisits.models import User

    return Api(User.objects.get(username="globex"))


# -- removal after a day ----------------------------------------------------------------------------
def test_uploads_no_order_took_are_removed_after_24_hours_files_and_rows(
    orderer, make_body, django_capture_on_commit_callbacks
):
    api = Api(orderer)
    with time_machine.travel(timezone.now() - timedelta(hours=30), tick=False):
        old_unused = api.upload_v1("old.png", PNG).json()["attachmentId"]
        old_used = api.upload_v1("used.png", PNG).json()["attachmentId"]
        old_po = api.upload_v1("po.pdf", PLAIN_PDF).json()["attachmentId"]
    recent = api.upload_v1("new.png", PNG).json()["attachmentId"]
    body = make_body(attachments=[{"id": old_used}])
    body["purchaseOrder"] = {"type": "EXEMPTED", "attachmentId": old_po}
    services.order_create(user=orderer, data=body)
    old_file = Path(Attachment.objects.get(pk=old_unused).file.path)
    assert old_file.exists()

    # The beat's task calls the service.
    assert settings.CELERY_BEAT_SCHEDULE["remove unused uploads"]["task"] == tasks.remove_unused_uploads.name
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the deletion is committed
        assert tasks.remove_unused_uploads() == "1 unused uploads removed"

    assert set(Attachment.objects.values_list("pk", flat=True).iterator()) == {
        uuid_of(old_used),
        uuid_of(old_po),
        uuid_of(recent),
    }
    assert not old_file.exists()
    assert uploads.unused_uploads_remove() == 0  # nothing more to do



def test_a_purchase_order_file_removed_between_the_check_and_the_order_is_refused_at_its_field(
    orderer, make_body, monkeypatch
):
    po_file = Api(orderer).upload_v1("po.pdf", PLAIN_PDF).json()["attachmentId"]
    checked = selectors.ordering_context_and_ids

    def check_then_remove(*args, **kwargs):
        found = checked(*args, **kwargs)
        Attachment.objects.filter(pk=po_file).delete()  # the hourly removal lands right after the check
        return found

    monkeypatch.setattr(selectors, "ordering_context_and_ids", check_then_remove)
    body = make_body()
    body["purchaseOrder"] = {"type": "EXEMPTED", "attachmentId": po_file}
    with pytest.raises(RuleViolation) as refused:
        services.order_create(user=orderer, data=body)
    assert [e.path for e in refused.value.errors] == ["purchaseOrder.attachmentId"]
    assert "upload it again" in refused.value.errors[0].message
    assert not Order.objects.exists()

def uuid_of(value):
    import uuid

    return uuid.UUID(value)


# -- bodies judged by their length ------------------------------------------------------------------
def _post_unread(client, path, **meta):
    body = CountingStream()
    response = client.generic(
        "POST", path, b"", CONTENT_TYPE="multipart/form-data; boundary=XYZ", **{"wsgi.input": body}, **meta
    )
    return response, body


def test_a_300_mb_wizard_upload_is_refused_from_its_length_before_a_byte_is_read(orderer):
    client = Client()
    client.force_login(orderer)
    response, body = _post_unread(client, reverse("wizard_upload"), CONTENT_LENGTH=str(300 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json() == {"errors": ["The file is 300.0 MB; attachments may be at most 10 MB."]}
    assert body.read_bytes == 0


def test_a_chunked_body_is_411_not_file_is_required_on_the_wizard_and_the_api(orderer):
    client = Client()
    client.force_login(orderer)
    response, body = _post_unread(client, reverse("wizard_upload"), HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and body.read_bytes == 0
    assert "sent in chunks" in response.json()["errors"][0]

    api = Api(orderer)
    response, body = _post_unread(
        api.client, UPLOAD, HTTP_TRANSFER_ENCODING="chunked", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert response.status_code == 411 and body.read_bytes == 0
    assert error_props(response) == {"EQ-2010012": ["Content-Length"]}
    [entry] = response.json()
    assert "Content-Length header" in entry["errorMessage"]
    assert "Content-Length header" in entry["additionalInfo"][0]["reason"]


def test_a_large_body_to_any_other_page_is_a_413_in_words(orderer):
    client = Client()
    client.force_login(orderer)
    response, body = _post_unread(client, "/orders/", CONTENT_LENGTH=str(50 * 1024 * 1024))
    assert response.status_code == 413 and body.read_bytes == 0
    assert "attachments may be at most 10 MB" in response.content.decode()


# -- who may download -------------------------------------------------------------------------------
def test_a_purchase_order_file_is_served_only_to_those_who_see_its_order(users, orderer, make_body):
    api = Api(orderer)
    po = api.upload_v1("po.pdf", PLAIN_PDF).json()["attachmentId"]
    body = make_body()
    body["purchaseOrder"] = {"type": "EXEMPTED", "attachmentId": po}
    services.order_create(user=orderer, data=body)
    assert api.get(f"/v1/attachments/{po}/file").status_code == 200
    technician = Api(users["technician"])  # a member who sees only the orders they take part in
    assert technician.get(f"/v1/attachments/{po}/file").status_code == 404
    assert technician.get(f"/v1/attachments/{po}").status_code == 404
    assert Api_for_globex().get(f"/v1/attachments/{po}/file").status_code == 404


def test_the_web_serves_an_order_s_file_only_under_that_order(orderer, make_body):
    api = Api(orderer)
    first = api.upload_v1("a.png", PNG).json()["attachmentId"]
    one = services.order_create(user=orderer, data=make_body(attachments=[{"id": first}]))
    other = services.order_create(user=orderer, data=make_body())
    client = Client()
    client.force_login(orderer)
    assert client.get(f"/orders/{one.order_id}/attachments/{first}/").status_code == 200
    assert client.get(f"/orders/{other.order_id}/attachments/{first}/").status_code == 404


def test_the_admin_serves_no_file(orderer, make_body, users):
    api = Api(orderer)
    first = api.upload_v1("a.png", PNG).json()["attachmentId"]
    order = services.order_create(user=orderer, data=make_body(attachments=[{"id": first}]))
    client = Client()
    client.force_login(users["reviewer"])
    page = client.get(reverse("admin:workvisits_order_change", args=[order.pk]))
    assert page.status_code == 200 and "a.png" in page.content.decode()
    assert first.replace("-", "") not in page.content.decode()  # no link to the stored file


def _answer(port: int, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
    """POST the headers (and what body is given) to the server; its status and (de-chunked) answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_under_gunicorn_bodies_are_judged_by_their_length_before_they_are_read(production_server):  # noqa: F811
    # Only the headers are sent: a server that read the body would wait for it until the socket timed out.
    status, body = _answer(
        production_server,
        "/wizard/attachments/",
        {"Content-Type": "multipart/form-data; boundary=XYZ", "Content-Length": str(300 << 20)},
    )
    assert status == 413
    assert json.loads(body) == {"errors": ["The file is 300.0 MB; attachments may be at most 10 MB."]}

    # A chunked body (no length) to the API: 411, where the application would have seen an empty body.
    part = (
        b"--XYZ\r\nContent-Disposition: form-data; name=uploadFile; filename=a.png\r\n\r\n" + PNG + b"\r\n--XYZ--\r\n"
    )
    status, body = _answer(
        production_server,
        "/v1/attachments/file",
        {"Content-Type": "multipart/form-data; boundary=XYZ", "Transfer-Encoding": "chunked"},
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part),
    )
    assert status == 411
    [entry] = json.loads(body)
    assert entry["errorCode"] == "EQ-2010012" and entry["additionalInfo"][0]["property"] == "Content-Length"
