"""Mapping portal users to their usernames at the data centre, from a CSV file.

The file has a header row with `upstream_username` and either `username` or `email` (which names the
portal user). A blank upstream username removes the mapping. Running the same file again changes
nothing; a row that cannot be applied is refused with its line and the reason, the others are applied.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction

from .csv_files import csv_text
from .models import User

COLUMN = "upstream_username"
KEYS = ("username", "email")
NAME_MAX = User._meta.get_field("upstream_username").max_length


class UsernameImportRefused(Exception):
    """The file as a whole cannot be used (not UTF-8 text, wrong header, no rows)."""


@dataclass
class UsernameImport:
    """What an import did, user by user (portal usernames), and each refused row with the reason."""

    set: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.set)} set, {len(self.cleared)} cleared, {len(self.unchanged)} unchanged, "
            f"{len(self.refused)} refused"
        )


def _name_problem(name: str) -> str | None:
    if len(name) > NAME_MAX:
        return f"the upstream username is longer than {NAME_MAX} characters"
    if any(ch.isspace() for ch in name):
        return f"the upstream username '{name}' contains a space; a username has none"
    return None


def _header(reader: csv.DictReader) -> tuple[str, list[str]]:
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    keys = [k for k in KEYS if k in header]
    if COLUMN not in header or len(keys) != 1:
        raise UsernameImportRefused(
            "The CSV file needs a header row with the columns username,upstream_username (or email,upstream_username)."
        )
    unknown = [h for h in header if h not in (COLUMN, *KEYS)]
    if unknown:
        raise UsernameImportRefused(f"Unknown CSV columns: {', '.join(unknown)}. Known: username, email, {COLUMN}.")
    return keys[0], header


def _find_user(key: str, value: str) -> tuple[User | None, str | None]:
    if key == "username":
        user = User.objects.filter(username=value).first()
        return (user, None) if user else (None, f"there is no portal user '{value}'")
    users = list(User.objects.filter(email__iexact=value)[:2])
    if not users:
        return None, f"no portal user has the email {value}"
    if len(users) > 1:
        return None, f"several portal users have the email {value}; name the user by username instead"
    return users[0], None


def upstream_usernames_import(*, data: bytes) -> UsernameImport:
    """Apply a CSV file of portal users and their upstream usernames; see the module text."""
    reader = csv.DictReader(io.StringIO(csv_text(data, refused=UsernameImportRefused)))
    key, reader.fieldnames = _header(reader)
    result = UsernameImport()
    wanted: dict[int, tuple[str, User, str | None]] = {}  # user pk -> (where, user, new name)
    claimed: dict[str, str] = {}  # new name -> where it was claimed
    for row in reader:
        where = f"row {reader.line_num}"
        if None in row:
            result.refused.append({"where": where, "message": "The row has more fields than the header."})
            continue
        value = (row.get(key) or "").strip()
        name = (row.get(COLUMN) or "").strip() or None
        if not value:
            result.refused.append({"where": where, "message": f"{key} is required."})
            continue
        problem = _name_problem(name) if name else None
        user, missing = _find_user(key, value)
        problem = problem or missing
        if problem is None and user.pk in wanted:
            problem = f"user {user.username} is already given a name in {wanted[user.pk][0]}"
        if problem is None and name and name in claimed:
            problem = f"'{name}' is already given to another user in {claimed[name]}"
        if problem:
            result.refused.append({"where": where, "message": problem[0].upper() + problem[1:] + "."})
            continue
        wanted[user.pk] = (where, user, name)
        if name:
            claimed[name] = where
    if not wanted and not result.refused:
        raise UsernameImportRefused("The CSV file has no rows.")

    with transaction.atomic():
        holders = {
            u.upstream_username: u for u in User.objects.select_for_update().filter(upstream_username__in=list(claimed))
        }
        pending = dict(wanted)
        while True:
            # A name held by a user whom the file does not move to another name cannot be given away;
            # refusing one move can strand another, hence the repetition.
            moving = {pk for pk, (_, user, name) in pending.items() if (user.upstream_username or None) != name}
            stuck = [
                pk
                for pk, (_, _, name) in pending.items()
                if name in holders and holders[name].pk != pk and holders[name].pk not in moving
            ]
            if not stuck:
                break
            for pk in stuck:
                where, _, name = pending.pop(pk)
                message = f"'{name}' is already the upstream username of {holders[name].username}."
                result.refused.append({"where": where, "message": message})
        for _, user, name in pending.values():
            if (user.upstream_username or None) == name:
                result.unchanged.append(user.username)
            else:
                (result.set if name else result.cleared).append(user.username)
        changes = {pk: name for pk, (_, user, name) in pending.items() if (user.upstream_username or None) != name}
        # Released first, so that names can move between users within one file.
        User.objects.filter(pk__in=list(changes)).update(upstream_username=None)
        for pk, name in changes.items():
            if name:
                User.objects.filter(pk=pk).update(upstream_username=name)
    result.refused.sort(key=lambda r: int(r["where"].split()[-1]))
    return result
