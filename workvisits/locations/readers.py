"""Reading the sources into entries: the upstream's Lookup v2 answer (with the v1 answer's credit-hold and
purchase-order flags) and a CSV file. Whatever cannot be used is refused whole or reported entry by entry."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

CSV_COLUMNS = (
    "ibx",
    "ibx_timezone",
    "cage",
    "cage_type",
    "organization",
    "account_number",
    "account_name",
    "credit_hold",
    "po_bearing",
    "cabinet",
    "cabinet_type",
)
CSV_REQUIRED = ("ibx", "cage", "account_number")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


class ImportRefused(Exception):
    """The input as a whole cannot be used (no locations at all, not a CSV, wrong columns)."""


@dataclass
class Entry:
    """One cabinet (or a cage/account without cabinets) as the source states it; `where` names it."""

    where: str
    ibx: str
    cage: str
    account_number: str = ""
    account_name: str = ""
    credit_hold: bool | None = None
    po_bearing: bool | None = None
    cabinet: str = ""
    cabinet_type: str = ""
    cage_type: str = ""
    organization: str = ""
    ibx_timezone: str = ""
    # A bad entry that still names a cage: it is not applied, but keeps that cage from being retired.
    seen_only: str = ""


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true or false"}.get(
        type(value), "null" if value is None else "a number"
    )


def _unreadable(path: str, what: str, value) -> ImportRefused:
    return ImportRefused(
        f"The upstream's answer cannot be read: {path} must be {what}, not {_kind(value)}; "
        "nothing was changed or retired."
    )


def _objects(value, path: str) -> list[dict]:
    """A declared array of objects; a single object counts as a one-item array, as the upstream's clients read it."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise _unreadable(path, "a list", value)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _unreadable(f"{path}[{i}]", "an object", item)
    return value


def _text(obj: dict, key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _unreadable(f"{path}.{key}", "text", value)
    return str(value).strip()


def _flag(obj: dict, key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _unreadable(f"{path}.{key}", "true or false", value)


def _account_numbers(cage: dict, path: str) -> list[str]:
    """`accountNumbers`: the SDK reads one string; a list, or several numbers separated by commas, are read too."""
    value = cage.get("accountNumbers")
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise _unreadable(f"{path}.accountNumbers[{i}]", "text", item)
            items.append(str(item))
    else:
        items = _text(cage, "accountNumbers", path).split(",")
    numbers = []
    for item in items:
        if item.strip() and item.strip() not in numbers:
            numbers.append(item.strip())
    return numbers


@dataclass
class _V1Account:
    name: str = ""
    credit_hold: bool | None = None
    po_bearing: bool | None = None


def _either(old: bool | None, new: bool | None) -> bool | None:
    # The account is on hold (or PO-bearing) if any cage's entry says so.
    return new if old is None else old or bool(new)


def facts_from_v1(answer) -> tuple[dict[str, _V1Account], dict[str, str]]:
    """What the v1 answer (`locations[{ibx, cages[{cage, accounts[{number, name, isCreditHold, isPOBearing,
    cabinets[{cabinet}]}]}]}]`) adds to Lookup v2: accounts' flags, and which account each cabinet is billed to.
    `{}` or no answer is an empty list."""
    accounts: dict[str, _V1Account] = {}
    cabinets: dict[str, str] = {}
    if answer is None:
        return accounts, cabinets
    if not isinstance(answer, dict):
        raise _unreadable("the v1 answer", "an object with locations", answer)
    for i, location in enumerate(_objects(answer.get("locations"), "locations")):
        for j, cage in enumerate(_objects(location.get("cages"), f"locations[{i}].cages")):
            for k, account in enumerate(_objects(cage.get("accounts"), f"locations[{i}].cages[{j}].accounts")):
                path = f"locations[{i}].cages[{j}].accounts[{k}]"
                number = _text(account, "number", path)
                if not number:
                    continue
                known = accounts.setdefault(number, _V1Account())
                known.name = known.name or _text(account, "name", path)
                known.credit_hold = _either(known.credit_hold, _flag(account, "isCreditHold", path))
                known.po_bearing = _either(known.po_bearing, _flag(account, "isPOBearing", path))
                for m, cabinet in enumerate(_objects(account.get("cabinets"), f"{path}.cabinets")):
                    cabinet_id = _text(cabinet, "cabinet", f"{path}.cabinets[{m}]")
                    if cabinet_id:
                        cabinets.setdefault(cabinet_id, number)
    return accounts, cabinets


def _credit_hold(v1_hold: bool | None, allow_order: bool | None) -> bool | None:
    """v1's `isCreditHold` where it says; else an account Lookup v2 marks `allowOrder: false` cannot order.
    `allowOrder: true` alone does not lift a hold (it is not a credit-hold flag), so it leaves it as it was."""
    if v1_hold is not None:
        return v1_hold
    return True if allow_order is False else None


def entries_from_lookup(answer, v1_answer=None) -> tuple[list[Entry], list[dict]]:
    """Flatten Lookup v2 (`crossConnects[{ibx, accounts[{accountNumber, accountName, allowOrder}], cages[{id, type,
    accountNumbers, cabinetId, cabinetType}]}]`, one cage entry per cabinet) with the v1 answer's flags.
    An answer that cannot be read raises ImportRefused naming the property; a bad entry is reported."""
    if answer is None:
        raise ImportRefused("The upstream's Lookup v2 answer is empty; nothing was changed or retired.")
    if not isinstance(answer, dict):
        raise _unreadable("the Lookup v2 answer", "an object with crossConnects", answer)
    if answer.get("crossConnects") is None:
        hint = " (it looks like the v1 answer: give it as the v1 answer)" if "locations" in answer else ""
        raise ImportRefused(
            f"The upstream's Lookup v2 answer has no crossConnects{hint}; nothing was changed or retired."
        )
    v1_accounts, v1_cabinets = facts_from_v1(v1_answer)
    entries, errors = [], []
    for i, location in enumerate(_objects(answer["crossConnects"], "crossConnects")):
        path = f"crossConnects[{i}]"
        ibx = _text(location, "ibx", path)
        cages = _objects(location.get("cages"), f"{path}.cages")
        names, allowed = {}, {}
        for k, account in enumerate(_objects(location.get("accounts"), f"{path}.accounts")):
            number = _text(account, "accountNumber", f"{path}.accounts[{k}]")
            if number:
                names[number] = _text(account, "accountName", f"{path}.accounts[{k}]")
                allowed[number] = _flag(account, "allowOrder", f"{path}.accounts[{k}]")
        for j, cage in enumerate(cages):
            where = f"{path}.cages[{j}]"
            cage_id = _text(cage, "id", where)
            numbers = _account_numbers(cage, where)
            cabinet, cabinet_type = _text(cage, "cabinetId", where), _text(cage, "cabinetType", where)
            cage_type = _text(cage, "type", where)
            if not ibx or not cage_id:
                message = "The location has no ibx." if not ibx else "The cage has no id."
                errors.append({"where": where, "message": message})
                # Not applied, but what it names is not retired either.
                entries.append(Entry(where=where, ibx=ibx, cage="", cabinet=cabinet, seen_only=cage_id))
                continue
            common = {"where": where, "ibx": ibx, "cage": cage_id, "cage_type": cage_type}
            if not numbers:
                if cabinet:
                    errors.append({"where": where, "message": f"Cabinet {cabinet} has no account."})
                    entries.append(Entry(where=where, ibx=ibx, cage="", cabinet=cabinet, seen_only=cage_id))
                else:
                    entries.append(Entry(**common))
                continue
            # A cabinet is billed to one account: the one v1 lists it under, else the cage entry's first.
            billed = v1_cabinets.get(cabinet) if v1_cabinets.get(cabinet) in numbers else numbers[0]
            for number in numbers:
                v1 = v1_accounts.get(number, _V1Account())
                entry = Entry(
                    **common,
                    account_number=number,
                    account_name=names.get(number) or v1.name,
                    credit_hold=_credit_hold(v1.credit_hold, allowed.get(number)),
                    po_bearing=v1.po_bearing,
                )
                if cabinet and number == billed:
                    entry.cabinet, entry.cabinet_type = cabinet, cabinet_type
                entries.append(entry)
        if not ibx and not cages:
            errors.append({"where": path, "message": "The location has no ibx."})
    return entries, errors


def _csv_bool(value: str) -> bool | None:
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def entries_from_csv(text: str) -> tuple[list[Entry], list[dict]]:
    """Read a CSV with the header CSV_COLUMNS (ibx, cage and account_number required), one row per cabinet."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise ImportRefused(
            f"The CSV file needs a header row with the columns {', '.join(CSV_COLUMNS)}; missing: {', '.join(missing)}."
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise ImportRefused(f"Unknown CSV columns: {', '.join(unknown)}. Known: {', '.join(CSV_COLUMNS)}.")
    reader.fieldnames = header
    entries, errors = [], []
    for row in reader:
        where = f"row {reader.line_num}"
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            errors.append({"where": where, "message": "The row has more fields than the header."})
            continue
        problems = [f"{c} is required" for c in CSV_REQUIRED if not values.get(c)]
        flags = {}
        for column in ("credit_hold", "po_bearing"):
            flags[column] = _csv_bool(values.get(column, ""))
            if flags[column] is None:
                problems.append(f"{column} must be true or false, not '{values[column]}'")
        if problems:
            errors.append({"where": where, "message": "; ".join(problems) + "."})
            # Still counted as seen: a bad row must not retire the cage or cabinet it names.
            entries.append(
                Entry(
                    where=where,
                    ibx=values.get("ibx", ""),
                    cage="",
                    cabinet=values.get("cabinet", ""),
                    seen_only=values.get("cage", ""),
                )
            )
            continue
        entries.append(
            Entry(
                where=where,
                ibx=values["ibx"],
                ibx_timezone=values.get("ibx_timezone", ""),
                cage=values["cage"],
                cage_type=values.get("cage_type", ""),
                organization=values.get("organization", ""),
                account_number=values["account_number"],
                account_name=values.get("account_name", ""),
                credit_hold=flags["credit_hold"],
                po_bearing=flags["po_bearing"],
                cabinet=values.get("cabinet", ""),
                cabinet_type=values.get("cabinet_type", ""),
            )
        )
    return entries, errors
