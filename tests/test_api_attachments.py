"""POST /colocations/v2/attachments/file and the download: size, content checks, storage, who may read."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.api_support import Api, error_props, media_in
from workvisits import services
from workvisits.api import views
from workvisits.models import Attachment

UPLOAD = "/colocations/v2/attachments/file"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 200


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    media_in(settings, tmp_path)


class CountingStream(io.RawIOBase):
    """An endless request body that counts what the server reads of it."""

    def __init__(self):
        self.read_bytes = 0

    def read(self, size=-1):
        size = 65536 if size is None or size < 0 else size
        self.read_bytes += size
        return b"\x00" * size

    def readline(self, size=-1):
        return self.read(size)


def test_upload_and_download_by_a_member(orderer, users):
    api = Api(orderer)
    response = api.upload("floor plan.png", PNG)
    assert response.status_code == 201
    body = response.json()
    assert body["attachmentName"] == "floor plan.png"
    attachment = Attachment.objects.get(pk=body["attachmentId"])
    assert attachment.content_type == "image/png" and attachment.size == len(PNG)

    # Stored under a generated name, outside every web-served folder.
    stored = Path(attachment.file.path).resolve()
    assert "floor" not in stored.name and stored.name == attachment.id.hex
    for served in [settings.STATIC_ROOT, *settings.STATICFILES_DIRS]:
        assert not stored.is_relative_to(Path(served).resolve())

    for user in (orderer, users["technician"]):  # any member of the organization
        download = Api(user).get(f"/colocations/v2/attachments/{attachment.id}/file")
        assert download.status_code == 200
        assert download["Content-Type"] == "image/png"
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["Content-Disposition"].startswith("attachment;")
        assert b"".join(download.streaming_content) == PNG


def test_another_organization_cannot_download_and_an_order_s_file_needs_the_order(orderer, globex, users, make_body):
    attachment_id = Api(orderer).upload("plan.png", PNG).json()["attachmentId"]
    url = f"/colocations/v2/attachments/{attachment_id}/file"
    response = Api(globex).get(url)
    assert response.status_code == 404
    assert error_props(response) == {"EQ-2014004": ["path"]}
    assert Client().get(url).status_code == 401

    services.order_create(user=orderer, data=make_body(attachments=[{"id": attachment_id}]))
    assert Api(orderer).get(url).status_code == 200
    assert Api(users["technician"]).get(url).status_code == 404  # cannot see that order


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("evil.png", b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", "markup"),
        ("page.html", b"<html></html>", ".html"),
        ("fake.pdf", PNG, "not a .pdf"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_content_is_checked_from_the_bytes(orderer, name, content, reason):
    response = Api(orderer).upload(name, content)
    assert response.status_code == 400
    assert error_props(response) == {"EQ-2010010": ["file"]}
    assert reason in response.json()[0]["additionalInfo"][0]["reason"]
    assert not Attachment.objects.exists()


def test_missing_file_and_wrong_content_type(orderer):
    api = Api(orderer)
    response = api.client.post(UPLOAD, {"other": "x"}, headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 400 and error_props(response) == {"EQ-2016011": ["file"]}
    response = api.post(UPLOAD, {"file": "x"})
    assert response.status_code == 415 and error_props(response) == {"EQ-2010015": ["Content-Type"]}


def _endless_upload(api, length):
    stream = CountingStream()
    response = api.client.generic(
        "POST",
        UPLOAD,
        b"",
        headers={"Authorization": f"Bearer {api.token}"},
        CONTENT_TYPE="multipart/form-data; boundary=XYZ",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": stream},
    )
    return response, stream


def test_far_more_than_10_mb_is_413_before_the_body_is_read(orderer):
    response, stream = _endless_upload(Api(orderer), views.MAX_DISCARDED_BYTES + 1)
    assert response.status_code == 413
    assert error_props(response) == {"EQ-2010013": ["body"]}
    assert stream.read_bytes == 0


def test_a_body_somewhat_over_10_mb_is_read_to_its_end_and_thrown_away_before_the_413(orderer):
    # Read up to its announced length (never beyond), and not parsed: nothing is stored.
    length = 20 * 1024 * 1024
    response, stream = _endless_upload(Api(orderer), length)
    assert response.status_code == 413
    assert error_props(response) == {"EQ-2010013": ["body"]}
    assert length <= stream.read_bytes <= length + 65536
    assert not Attachment.objects.exists()


def test_a_file_just_over_10_mb_inside_the_multipart_allowance_is_413(orderer):
    response = Api(orderer).upload("big.txt", b"a" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert error_props(response) == {"EQ-2010013": ["file"]}
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\nno boundary given"),
        (
            "multipart/form-data; boundary=XYZ",
            b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n',
        ),
        ("multipart/form-data; boundary=XYZ", b"garbage without any boundary"),
    ],
)
def test_a_broken_multipart_body_is_a_4xx(orderer, content_type, body):
    api = Api(orderer)
    response = api.client.generic(
        "POST", UPLOAD, body, content_type=content_type, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()[0]["errorCode"] in ("EQ-2010011", "EQ-2016011")


def test_staff_without_an_organization_cannot_upload(users):
    response = Api(users["reviewer"]).upload("plan.png", PNG)
    assert response.status_code == 403
    assert error_props(response) == {"EQ-2012006": ["file"]}
