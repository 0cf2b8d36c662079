"""Uploaded attachments: what a file must be to be kept, how many an organization may keep unused, and
the removal of those no order took within a day.

The content is judged, never the name alone: the first bytes must be of the type the extension claims
(rules.attachment_file_errors, confirmed by puremagic), Office files are opened as ZIP archives with a
bound on their entries and unpacked size (a zip bomb is refused from its directory), and PDFs that
carry JavaScript, embedded files or launch actions are refused, however their dictionaries are hidden
(compressed object streams, #xx escapes in names). Every refusal names the field it was sent in.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from datetime import datetime, timedelta

import puremagic
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from . import rules
from .models import Attachment, Order, Organization, User

logger = logging.getLogger(__name__)

# Uploads an organization may keep that no order uses yet (a wizard or a script between upload and
# order): past either bound, an upload is refused until some are used, deleted or removed by age.
MAX_UNUSED_UPLOADS = 100
MAX_UNUSED_UPLOAD_BYTES = 200 * 1024 * 1024
# Uploads no order took are removed this long after they were made (beat, `remove_unused_uploads`).
UNUSED_UPLOAD_LIFETIME = timedelta(hours=24)
# Office Open XML files (docx, xlsx, ppsx) are ZIP archives: bounds on what they may unpack to.
MAX_ARCHIVE_ENTRIES = 1000
MAX_ARCHIVE_UNPACKED_BYTES = 100 * 1024 * 1024
# A web request's body: one attachment and its multipart framing. Larger is refused before it is read.
MAX_WEB_BODY_BYTES = rules.MAX_ATTACHMENT_BYTES + 64 * 1024

OFFICE_ARCHIVES = ("docx", "xlsx", "ppsx")
# What puremagic may call a file of each accepted extension (the Office families share one container).
_OLE = {"doc", "xls", "ppt", "pps", "vsd", "msi", "msg", "spo", "opt", "rvt", "pub", "dot", "xlt", "pot"}
_OOXML = {"docx", "xlsx", "pptx", "ppsx", "xlsb", "xltm", "xltx", "docm", "dotx", "potx", "xlsm", "pptm", "zip"}
_SEEN_AS = {
    "bmp": {"bmp", "dib"},
    "jpg": {"jpg", "jpeg", "jfif", "jpe"},
    "jpeg": {"jpg", "jpeg", "jfif", "jpe"},
    "gif": {"gif"},
    "png": {"png"},
    "tif": {"tif", "tiff"},
    "tiff": {"tif", "tiff"},
    "pdf": {"pdf", "fdf"},
    **{extension: _OLE for extension in ("doc", "xls", "ppt", "pps", "vsd")},
    **{extension: _OOXML for extension in OFFICE_ARCHIVES},
}
# The part every Office Open XML package has, and the macro parts a docx/xlsx/ppsx may not have.
_OOXML_MANIFEST = "[Content_Types].xml"
_MACRO_PART = re.compile(r"(^|/)vbaProject\.bin$", re.I)
# PDF names that make a reader run code, open other files or carry files. Names may hide letters as #xx.
_PDF_ACTIVE_NAMES = re.compile(rb"/(JavaScript|JS|EmbeddedFiles?|Launch|RichMedia)(?![A-Za-z0-9])")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"stream\r?\n")
_UNPACK_LIMIT = "an Office document may unpack to at most {} MB."
MAX_PDF_STREAM_BYTES = 20 * 1024 * 1024  # what one PDF stream may unpack to while it is searched


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _seen_as(head: bytes) -> set[str]:
    try:
        return {match.extension.lstrip(".").lower() for match in puremagic.magic_string(head)}
    except puremagic.PureError:
        return set()


def _archive_errors(uploaded, path: str, extension: str) -> list[str]:
    """The Office file opened as a ZIP archive: entries and unpacked bytes bounded, no macros."""
    uploaded.seek(0)
    try:
        archive = zipfile.ZipFile(uploaded)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return [f"{path}: the file is not a readable .{extension} document; attach it again as saved by Office."]
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        return [f"{path} holds {len(entries)} parts; an Office document may hold at most {MAX_ARCHIVE_ENTRIES}."]
    limit_mb = MAX_ARCHIVE_UNPACKED_BYTES // 1048576
    declared = sum(entry.file_size for entry in entries)
    if declared > MAX_ARCHIVE_UNPACKED_BYTES:
        return [f"{path} unpacks to {declared / 1048576:.0f} MB; {_UNPACK_LIMIT.format(limit_mb)}"]
    names = {entry.filename for entry in entries}
    if _OOXML_MANIFEST not in names:
        return [f"{path}: the file is a ZIP archive, not a .{extension} document; attach the document itself."]
    if any(_MACRO_PART.search(name) for name in names):
        return [f"{path} contains macros, which are not accepted; save it as a .{extension} without macros."]
    if any(entry.flag_bits & 0x1 for entry in entries):
        return [f"{path} is encrypted; attach it without a password."]
    # (Unpacking cannot exceed the directory's sizes: zipfile stops each part at its declared size and
    # refuses it when its checksum then fails, so the bound on the declared total is the bound.)
    return []


def _pdf_texts(data: bytes):
    """The PDF's bytes, then each of its streams unpacked (bounded): object streams hide dictionaries."""
    yield data
    for match in _PDF_STREAM.finditer(data):
        end = data.find(b"endstream", match.end())
        if end < 0:
            break
        body = data[match.end() : end]
        inflater = zlib.decompressobj()
        try:
            yield inflater.decompress(body, MAX_PDF_STREAM_BYTES)
        except zlib.error:
            continue  # not a Flate stream (an image, plain text): its raw bytes were searched already


def _pdf_errors(uploaded, path: str) -> list[str]:
    uploaded.seek(0)
    data = uploaded.read(rules.MAX_ATTACHMENT_BYTES + 1)
    for text in _pdf_texts(data):
        found = _PDF_ACTIVE_NAMES.search(_PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text))
        if found:
            what = {b"JavaScript": "JavaScript", b"JS": "JavaScript", b"Launch": "an action that opens programs"}.get(
                found.group(1), "embedded files"
            )
            return [f"{path} is a PDF that carries {what}, which is not accepted; attach a plain PDF (print to PDF)."]
    return []


def attachment_file_errors(name: str, uploaded, path: str) -> tuple[list[rules.RuleError], str]:
    """Is this upload (a Django UploadedFile named `name`) acceptable? The errors, at `path`, and its type."""
    uploaded.seek(0)
    head = uploaded.read(rules.SNIFF_BYTES)
    uploaded.seek(0)
    errors, content_type = rules.attachment_file_errors(name, uploaded.size or 0, head, path=path)
    if errors:
        return errors, ""
    extension = _extension(name)
    problems: list[str] = []
    if extension in _SEEN_AS and not (_seen_as(head) & _SEEN_AS[extension]):
        problems.append(
            f"{path}: the content is not a .{extension} file; attach a real .{extension} file "
            "or rename it to match its type."
        )
    elif extension in OFFICE_ARCHIVES:
        problems = _archive_errors(uploaded, path, extension)
    elif extension == "pdf":
        problems = _pdf_errors(uploaded, path)
    uploaded.seek(0)
    if problems:
        return [rules.RuleError(path, rules.INVALID, message) for message in problems], ""
    return [], content_type


def unused_uploads(organization_id: int | None = None):
    """Uploads no order uses, neither as an attachment nor as its purchase order's."""
    found = Attachment.objects.filter(order__isnull=True).exclude(
        pk__in=Order.objects.filter(po_attachment__isnull=False).values("po_attachment_id")
    )
    return found if organization_id is None else found.filter(organization_id=organization_id)


def quota_errors(organization_id: int, size: int, path: str) -> list[rules.RuleError]:
    """Would one more upload of `size` bytes take the organization past its quota of unused uploads?"""
    used = unused_uploads(organization_id).aggregate(count=Count("pk"), bytes=Sum("size"))
    count, stored = used["count"], used["bytes"] or 0
    hours = int(UNUSED_UPLOAD_LIFETIME.total_seconds() // 3600)
    advice = (
        f"attach them to orders or delete them (DELETE /v1/attachments/{{id}}), or wait: uploads no order "
        f"uses are removed {hours} hours after they were made."
    )
    if count >= MAX_UNUSED_UPLOADS:
        message = f"{path}: your organization already keeps {count} uploads no order uses, the most it may; {advice}"
        return [rules.RuleError(path, rules.INVALID, message)]
    if stored + size > MAX_UNUSED_UPLOAD_BYTES:
        message = (
            f"{path}: your organization's uploads that no order uses would reach {(stored + size) / 1048576:.1f} MB, "
            f"more than the {MAX_UNUSED_UPLOAD_BYTES // 1048576} MB it may keep; {advice}"
        )
        return [rules.RuleError(path, rules.INVALID, message)]
    return []


def attachment_store(*, user: User, uploaded, name: str, content_type: str, path: str) -> Attachment:
    """Keep a checked upload for the user's organization, within its quota of unused uploads.

    The quota is counted under a lock of the organization's row, so parallel uploads cannot pass it
    together; the file is written first and removed again if the upload is refused.
    """
    if errors := quota_errors(user.organization_id, uploaded.size, path):  # (cheap refusal before writing)
        raise rules.RuleViolation(errors)
    attachment = Attachment(
        organization_id=user.organization_id,
        uploaded_by=user,
        name=name,
        size=uploaded.size,
        content_type=content_type,
    )
    attachment.file.save(attachment.id.hex, uploaded, save=False)
    try:
        with transaction.atomic():
            Organization.objects.select_for_update().filter(pk=user.organization_id).values_list("pk").first()
            if errors := quota_errors(user.organization_id, uploaded.size, path):
                raise rules.RuleViolation(errors)
            attachment.save()
    except BaseException:
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


def unused_uploads_remove(*, now: datetime | None = None, batch: int = 500) -> int:
    """Remove the uploads no order took within UNUSED_UPLOAD_LIFETIME, rows and files; how many.

    Rows an order is claiming at this moment are locked by it and skipped (the next run sees them used).
    """
    cutoff = (now or timezone.now()) - UNUSED_UPLOAD_LIFETIME
    removed = 0
    while True:
        with transaction.atomic():
            rows = list(
                unused_uploads()
                .filter(created_at__lt=cutoff)
                .select_for_update(skip_locked=True)
                .values_list("pk", "file")[:batch]
            )
            if not rows:
                break
            Attachment.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            files = [name for _, name in rows]
            storage = Attachment._meta.get_field("file").storage
            transaction.on_commit(lambda files=files, storage=storage: [storage.delete(f) for f in files])
        removed += len(rows)
        if len(rows) < batch:
            break
    if removed:
        logger.info("%d unused uploads removed (made before %s)", removed, cutoff.isoformat())
    return removed
