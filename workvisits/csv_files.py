"""Reading a CSV file an operator hands over (the locations and the upstream usernames imports)."""

from __future__ import annotations

CSV_MAX_BYTES = 5 * 1024 * 1024


def csv_text(data: bytes, *, refused: type[Exception]) -> str:
    """The file's text: at most CSV_MAX_BYTES of UTF-8 (a byte-order mark allowed), else `refused` saying why."""
    if len(data) > CSV_MAX_BYTES:
        raise refused(f"The CSV file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise refused("The CSV file is not UTF-8 text.") from None
