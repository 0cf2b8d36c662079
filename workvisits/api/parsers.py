"""The multipart parser of the upload endpoints: Django's, saying in the API's words, at the file's part, what
Django's parser would refuse as a malformed body or change silently.

Django cuts a file name longer than 255 characters (keeping its extension) when it makes the uploaded file,
keeps only the last of several files sent in one part name, refuses a part whose headers pass
MAX_TOTAL_HEADER_SIZE (a file name of about 950 characters) as a broken body, and raises on more files
than DATA_UPLOAD_MAX_NUMBER_FILES (an error no handler turns into an answer).
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE, MultiPartParserError
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser, get_encoding

from .. import rules

_RENAME = f"a file name may have at most {rules.ATTACHMENT_NAME_MAX} characters: rename the file and upload it again."


class _SentNames(FileUploadHandler):
    """Records each file part's name and file name as sent (before the uploaded file cuts it); the handlers
    after it store the file."""

    def __init__(self, request=None):
        super().__init__(request)
        self.sent: list[tuple[str, str]] = []

    def new_file(self, field_name, file_name, *args, **kwargs):
        self.sent.append((field_name, file_name))

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None


def _drain(stream) -> None:
    """Read the rest of a refused body (its length is bounded before parsing), so the client reads the answer."""
    with contextlib.suppress(OSError):  # a client gone meanwhile: nobody reads the answer
        while stream.read(64 * 1024):
            pass


class UploadParser(MultiPartParser):
    """multipart/form-data with one file in each part name, each file name at most ATTACHMENT_NAME_MAX long."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        sent = _SentNames(request)
        request.upload_handlers.insert(0, sent)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        # Where an error of the body as a whole is told: the endpoint's (first) file part.
        part = getattr(parser_context.get("view"), "fields", ("uploadFile",))[0]
        try:
            encoding = get_encoding(parser_context)
            data, files = DjangoMultiPartParser(meta, stream, request.upload_handlers, encoding).parse()
        except TooManyFilesSent:
            _drain(stream)
            reason = (
                f"{part}: the body holds more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files; "
                f"send one file, in the part {part}."
            )
            raise rules.RuleViolation([rules.RuleError(part, rules.INVALID, reason)]) from None
        except MultiPartParserError as exc:
            _drain(stream)
            if "header size" not in str(exc):
                raise ParseError(f"Multipart form parse error - {exc}") from None
            reason = (
                f"{part}: a part's headers are longer than {MAX_TOTAL_HEADER_SIZE} bytes: its file name is far "
                f"too long; {_RENAME}"
            )
            raise rules.RuleViolation([rules.RuleError(part, rules.INVALID, reason)]) from None
        except Exception:
            _drain(stream)
            raise
        problems = [
            rules.RuleError(
                field,
                rules.INVALID,
                f"{field} holds {len(files.getlist(field))} files; send one file in it (upload each file on its own).",
            )
            for field in files
            if len(files.getlist(field)) > 1
        ]
        problems += [
            rules.RuleError(field, rules.INVALID, f"{field}: the file name has {len(name)} characters; {_RENAME}")
            for field, name in sent.sent
            if len(name) > rules.ATTACHMENT_NAME_MAX
        ]
        if problems:
            raise rules.RuleViolation(problems)
        return DataAndFiles(data, files)
