"""Attachments v1: upload a file (multipart part ``uploadFile``), read it back, delete it."""

from __future__ import annotations

import mimetypes

from django.http import HttpResponse, JsonResponse

from . import errors
from .state import get_sandbox

MAX_BYTES = 10 * 1024 * 1024
EXTENSIONS = ("bmp", "jpg", "jpeg", "gif", "png", "tif", "tiff", "txt", "doc", "docx", "xls", "xlsx", "ppt", "pps",
              "ppsx", "pdf", "vsd")
PURPOSES = ("LOA", "PO_DOCUMENT")
PUBLIC_KEYS = ("attachmentId", "attachmentName", "attachmentType", "attachmentSize", "createdDate", "createdBy",
               "lastUpdatedDate")


def _view(attachment: dict) -> dict:
    return {key: attachment[key] for key in PUBLIC_KEYS}


def _not_found(request, attachment_id: str):
    return errors.error_response(request, 404, errors.NO_RESOURCE, [errors.info(
        "attachmentId", "No attachment with this id (it may have expired after 40 days).", attachment_id)])


def upload(request):
    if request.content_type != "multipart/form-data":
        return errors.error_response(request, 415, errors.UNSUPPORTED_MEDIA, [errors.info(
            "content-type", "Send the file as multipart/form-data in a part named uploadFile.", request.content_type)])
    purpose = request.GET.get("purpose")
    if purpose is not None and purpose not in PURPOSES:
        return errors.error_response(request, 400, errors.INVALID, [errors.info(
            "purpose", f"purpose is one of {', '.join(PURPOSES)}, or left out for other files.", purpose)])
    file = request.FILES.get("uploadFile")
    if file is None:
        return errors.error_response(request, 400, errors.MISSING, [errors.info(
            "uploadFile", "uploadFile is required: the multipart part holding the file.")])
    name = file.name or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in EXTENSIONS:
        return errors.error_response(request, 400, errors.INVALID, [errors.info(
            "uploadFile", f"Files of this type are not accepted; use one of {', '.join(EXTENSIONS)}.", name)])
    if file.size > MAX_BYTES:
        return errors.error_response(request, 413, errors.TOO_LARGE, [errors.info(
            "uploadFile", f"The file is {file.size} bytes; at most 10 MB is accepted.", name)])
    if file.size == 0:
        return errors.error_response(request, 400, errors.INVALID, [errors.info(
            "uploadFile", "The file is empty.", name)])
    attachment = get_sandbox().attachment_add(
        client=request.sandbox_client, name=name,
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        content=file.read(), purpose=purpose,
    )
    return JsonResponse(_view(attachment), status=201)


def detail(request, attachment_id: str):
    attachment = get_sandbox().attachment_for(request.sandbox_client, attachment_id)
    if attachment is None:
        return _not_found(request, attachment_id)
    return JsonResponse(_view(attachment))


def delete(request, attachment_id: str):
    sandbox = get_sandbox()
    if sandbox.attachment_for(request.sandbox_client, attachment_id) is None:
        return _not_found(request, attachment_id)
    sandbox.attachment_delete(attachment_id)
    return HttpResponse(status=204)


def content(request, attachment_id: str):
    attachment = get_sandbox().attachment_for(request.sandbox_client, attachment_id)
    if attachment is None:
        return _not_found(request, attachment_id)
    response = HttpResponse(attachment["content"], content_type=attachment["attachmentType"])
    response["Content-Disposition"] = f'attachment; filename="{attachment["attachmentName"]}"'
    return response
