"""The locations catalogue import: IBXs, cages, accounts and cabinets from the upstream's locations
answer or from a CSV file. Each run is one LocationSync row reporting what it created, updated and
retired, and every entry it could not use with the reason."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction

from . import rules
from .catalogue import catalogue_changed
from .models import IBX, Account, Cabinet, Cage, LocationSync, Organization, User

logger = logging.getLogger(__name__)

SOURCE_UPSTREAM = "upstream"
SOURCE_CSV = "csv"
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
CSV_MAX_BYTES = 5 * 1024 * 1024
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


@dataclass
class _Report:
    summary: dict = field(
        default_factory=lambda: {
            kind: {"created": [], "updated": [], "retired": []} for kind in ("ibxs", "cages", "accounts", "cabinets")
        }
    )
    errors: list = field(default_factory=list)

    def add(self, kind: str, what: str, name: str) -> None:
        if name not in self.summary[kind][what]:
            self.summary[kind][what].append(name)

    def error(self, where: str, message: str) -> None:
        self.errors.append({"where": where, "message": message})


# ---------------------------------------------------------------------------------------------
# Reading the sources into entries.
def entries_from_upstream(answer) -> tuple[list[Entry], list[dict]]:
    """Flatten the upstream's `locations[{ibx, cages[{cage, cageTypes, accounts[{number, name, isCreditHold,
    isPOBearing, cabinets[{cabinet, cabinetType}]}]}]}]`. The spellings the sandbox uses are read too
    (`data` for `locations`, `cageType`, `accountNumber`, `accountName`, an IBX's `timezone` and `name`)."""
    entries, errors = [], []
    locations = answer
    if isinstance(answer, dict):
        locations = answer.get("locations", answer.get("data"))
    if not isinstance(locations, list):
        raise ImportRefused("The upstream's answer has no list of locations.")
    for i, location in enumerate(locations):
        ibx = str(location.get("ibx") or "").strip() if isinstance(location, dict) else ""
        if not ibx:
            errors.append({"where": f"locations[{i}]", "message": "The location has no ibx."})
            continue
        ibx_timezone = str(location.get("timezone") or "")
        for j, cage in enumerate(location.get("cages") or []):
            where = f"locations[{i}].cages[{j}]"
            cage_id = str(cage.get("cage") or "").strip() if isinstance(cage, dict) else ""
            if not cage_id:
                errors.append({"where": where, "message": "The cage has no id."})
                continue
            cage_types = cage.get("cageTypes", cage.get("cageType")) or ""
            cage_type = str(cage_types[0] if isinstance(cage_types, list) and cage_types else cage_types or "")
            common = {"ibx": ibx, "ibx_timezone": ibx_timezone, "cage": cage_id, "cage_type": cage_type}
            accounts = cage.get("accounts") or []
            if not accounts:
                entries.append(Entry(where=where, **common))
            for k, account in enumerate(accounts):
                account_where = f"{where}.accounts[{k}]"
                number = str(account.get("number") or account.get("accountNumber") or "").strip()
                if not number:
                    errors.append({"where": account_where, "message": "The account has no number."})
                    entries.append(Entry(where=account_where, ibx=ibx, cage="", seen_only=cage_id))
                    continue
                account_fields = {
                    "account_number": number,
                    "account_name": str(account.get("name") or account.get("accountName") or ""),
                    "credit_hold": bool(account.get("isCreditHold")),
                    "po_bearing": bool(account.get("isPOBearing")),
                }
                cabinets = account.get("cabinets") or []
                if not cabinets:
                    entries.append(Entry(where=account_where, **common, **account_fields))
                for m, cabinet in enumerate(cabinets):
                    entries.append(
                        Entry(
                            where=f"{account_where}.cabinets[{m}]",
                            cabinet=str(cabinet.get("cabinet") or "").strip(),
                            cabinet_type=str(cabinet.get("cabinetType") or ""),
                            **common,
                            **account_fields,
                        )
                    )
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


# ---------------------------------------------------------------------------------------------
# Applying entries to the catalogue.
def _message(error: ValidationError) -> str:
    return " ".join(m for messages in error.message_dict.values() for m in messages)


class _Importer:
    def __init__(self, report: _Report):
        self.report = report
        self.ibxs = {i.code: i for i in IBX.objects.select_for_update()}  # serializes concurrent imports
        self.organizations = {o.name: o for o in Organization.objects.all()}
        self.pending: list[tuple[str, str, str]] = []  # changes of the cage being applied, reported if it commits
        self.new_ibxs: dict[str, IBX] = {}

    def changed(self, kind: str, what: str, name: str) -> None:
        self.pending.append((kind, what, name))

    def commit(self) -> None:
        for change in self.pending:
            self.report.add(*change)
        self.ibxs.update(self.new_ibxs)
        self.pending, self.new_ibxs = [], {}

    def rollback(self) -> None:
        self.pending, self.new_ibxs = [], {}

    def ibx(self, entry: Entry) -> IBX:
        ibx = self.ibxs.get(entry.ibx) or self.new_ibxs.get(entry.ibx)
        if ibx is not None:
            return ibx
        if not entry.ibx_timezone:
            raise ValueError(
                f"IBX {entry.ibx} is not in the catalogue: add it in the admin with its time zone "
                "(or give ibx_timezone in the CSV)."
            )
        if not rules.valid_timezone(entry.ibx_timezone):
            raise ValueError(f"'{entry.ibx_timezone}' is not a time zone; use an IANA name such as Europe/Amsterdam.")
        ibx = self.new_ibxs[entry.ibx] = IBX.objects.create(code=entry.ibx, name=entry.ibx, timezone=entry.ibx_timezone)
        self.changed("ibxs", "created", ibx.code)
        return ibx

    def organization(self, entries: list[Entry], cage: Cage | None, accounts: dict[str, Account]) -> Organization:
        named = {e.organization for e in entries if e.organization}
        if len(named) > 1:
            raise ValueError(f"The rows of cage {entries[0].cage} name several organizations: {', '.join(named)}.")
        if named:
            name = named.pop()
            if name not in self.organizations:
                raise ValueError(f"Organization '{name}' does not exist; create it in the admin first.")
            organization = self.organizations[name]
            if cage is not None and cage.organization_id != organization.pk:
                raise ValueError(f"Cage {cage.cage_id} belongs to {cage.organization}, not to {name}.")
            return organization
        if cage is not None:
            return cage.organization
        known = [accounts[e.account_number] for e in entries if e.account_number in accounts]
        if known:
            return known[0].organization
        raise ValueError(
            f"Cage {entries[0].cage} is new and none of its accounts is known, so its organization is unknown: "
            "import it by CSV with the organization column, or add one of its accounts in the admin."
        )

    def cage_group(self, entries: list[Entry]) -> tuple[set[str], set[str]]:
        """Create or update one cage with its accounts and cabinets; returns the cabinets and accounts used."""
        first = entries[0]
        cage = Cage.objects.select_related("ibx", "organization").filter(cage_id=first.cage).first()
        numbers = {e.account_number for e in entries if e.account_number}
        accounts = {a.number: a for a in Account.objects.select_related("organization").filter(number__in=numbers)}
        ibx = self.ibx(first)
        if cage is not None and cage.ibx_id != ibx.pk:
            raise ValueError(f"Cage {cage.cage_id} is in {cage.ibx.code}, not in {ibx.code}.")
        organization = self.organization(entries, cage, accounts)

        created = cage is None
        if created:
            cage = Cage(cage_id=first.cage, ibx=ibx, organization=organization)
        try:
            cage.clean()
        except ValidationError as exc:
            raise ValueError(_message(exc)) from None
        changed = False
        for name, value in (("cage_type", first.cage_type or cage.cage_type or "CAGE"), ("active", True)):
            if getattr(cage, name) != value:
                setattr(cage, name, value)
                changed = True
        if created or changed:
            cage.save()

        used_accounts, used_cabinets, refused = set(), set(), set()
        for entry in entries:
            if not entry.account_number:
                continue
            try:
                account = self.account(entry, organization, accounts)
            except ValueError as exc:
                self.report.error(entry.where, str(exc))
                refused.add(entry.account_number)
                continue
            used_accounts.add(account.number)
        before = set(cage.accounts.values_list("number", flat=True)) if not created else set()
        # A refused entry changes nothing: an account the cage had stays with it.
        wanted = used_accounts | (before & refused)
        if before != wanted:
            cage.accounts.set(Account.objects.filter(number__in=wanted))
            changed = True
        for entry in entries:
            if not entry.cabinet or entry.account_number not in used_accounts:
                continue
            try:
                self.cabinet(entry, cage, accounts[entry.account_number])
            except ValueError as exc:
                self.report.error(entry.where, str(exc))
                continue
            used_cabinets.add(entry.cabinet)
        if created:
            self.changed("cages", "created", cage.cage_id)
        elif changed:
            self.changed("cages", "updated", cage.cage_id)
        return used_cabinets, used_accounts

    def account(self, entry: Entry, organization: Organization, accounts: dict[str, Account]) -> Account:
        account = accounts.get(entry.account_number)
        wanted = {
            "name": entry.account_name or (account.name if account else entry.account_number),
            "is_credit_hold": entry.credit_hold if entry.credit_hold is not None else False,
            "is_po_bearing": entry.po_bearing if entry.po_bearing is not None else False,
        }
        if account is None:
            account = accounts[entry.account_number] = Account.objects.create(
                number=entry.account_number, organization=organization, **wanted
            )
            self.changed("accounts", "created", account.number)
            return account
        if account.organization_id != organization.pk:
            raise ValueError(
                f"Account {account.number} belongs to {account.organization}, not to {organization} "
                f"(cage {entry.cage})."
            )
        changed = [name for name, value in wanted.items() if getattr(account, name) != value]
        if changed:
            for name in changed:
                setattr(account, name, wanted[name])
            account.save(update_fields=changed)
            self.changed("accounts", "updated", account.number)
        return account

    def cabinet(self, entry: Entry, cage: Cage, account: Account) -> None:
        cabinet = Cabinet.objects.filter(cabinet_id=entry.cabinet).first()
        created = cabinet is None
        if created:
            cabinet = Cabinet(cabinet_id=entry.cabinet)
        elif cabinet.cage_id != cage.pk:
            raise ValueError(f"Cabinet {cabinet.cabinet_id} belongs to another cage than {cage.cage_id}.")
        wanted = {"cage": cage, "account": account, "cabinet_type": entry.cabinet_type or "CABINET", "active": True}
        changed = created or any(getattr(cabinet, k) != v for k, v in wanted.items())
        for name, value in wanted.items():
            setattr(cabinet, name, value)
        try:
            cabinet.clean()
        except ValidationError as exc:
            raise ValueError(_message(exc)) from None
        if changed:
            cabinet.save()
            self.changed("cabinets", "created" if created else "updated", cabinet.cabinet_id)


def _apply(entries: list[Entry], report: _Report, *, retire_in: set[str] | None) -> None:
    """Apply the entries cage by cage; retire what is not seen (in the IBXs `retire_in`, or everywhere if None)."""
    seen_cages = {e.cage or e.seen_only for e in entries} - {""}
    seen_cabinets = {e.cabinet for e in entries if e.cabinet}
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.cage:
            groups.setdefault(entry.cage, []).append(entry)
    importer = _Importer(report)
    for cage_id, group in groups.items():
        ibxs = {e.ibx for e in group}
        if len(ibxs) > 1:
            for entry in group[1:]:
                if entry.ibx != group[0].ibx:
                    report.error(entry.where, f"Cage {cage_id} is in {group[0].ibx}, not in {entry.ibx}.")
            group = [e for e in group if e.ibx == group[0].ibx]
        try:
            with transaction.atomic():
                importer.cage_group(group)
        except ValueError as exc:
            importer.rollback()
            for entry in group:
                report.error(entry.where, str(exc))
        else:
            importer.commit()

    cages = Cage.objects.filter(active=True).exclude(cage_id__in=seen_cages)
    cabinets = Cabinet.objects.filter(active=True).exclude(cabinet_id__in=seen_cabinets)
    if retire_in is not None:
        cages = cages.filter(ibx__code__in=retire_in)
        cabinets = cabinets.filter(cage__ibx__code__in=retire_in)
    for cage_id in cages.values_list("cage_id", flat=True):
        report.add("cages", "retired", cage_id)
    for cabinet_id in cabinets.values_list("cabinet_id", flat=True):
        report.add("cabinets", "retired", cabinet_id)
    cages.update(active=False)
    cabinets.update(active=False)
    catalogue_changed()  # the cached catalogues of every organization are out of date now


def _run(source: str, entries: list[Entry], errors: list[dict], *, started_by, retire_in) -> LocationSync:
    report = _Report(errors=list(errors))
    with transaction.atomic():
        _apply(entries, report, retire_in=retire_in)
        sync = LocationSync.objects.create(
            source=source, started_by=started_by, summary=report.summary, errors=report.errors
        )
    logger.info("locations import from %s: %s; %d errors", source, sync_counts(sync), len(sync.errors))
    return sync


def sync_counts(sync: LocationSync) -> str:
    """A one-line account of a run: `cages 1 created, 2 updated, 0 retired; ...`."""
    parts = []
    for kind, changes in (sync.summary or {}).items():
        if any(changes.values()):
            parts.append(f"{kind} " + ", ".join(f"{len(v)} {k}" for k, v in changes.items()))
    return "; ".join(parts) or "no change"


# ---------------------------------------------------------------------------------------------
def import_locations_answer(*, answer: dict, started_by: User | None = None) -> LocationSync:
    """Bring the catalogue in line with the upstream's locations answer: it is the whole truth, so what it
    no longer lists is retired. An answer without a single cage is refused rather than retiring everything."""
    entries, errors = entries_from_upstream(answer)
    if not any(e.cage for e in entries):
        raise ImportRefused("The upstream listed no cage at all; nothing was changed or retired.")
    return _run(SOURCE_UPSTREAM, entries, errors, started_by=started_by, retire_in=None)


def import_locations_csv(*, data: bytes, started_by: User | None = None) -> LocationSync:
    """Import a CSV file: good rows are applied, bad rows reported with their line; cages and cabinets of
    the IBXs the file names that it no longer lists are retired."""
    if len(data) > CSV_MAX_BYTES:
        raise ImportRefused(f"The CSV file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The CSV file is not UTF-8 text.") from None
    entries, errors = entries_from_csv(text)
    if not entries:
        raise ImportRefused("The CSV file has no rows.")
    retire_in = {e.ibx for e in entries if e.ibx}
    return _run(SOURCE_CSV, entries, errors, started_by=started_by, retire_in=retire_in)


def import_locations_from_upstream(*, started_by: User | None = None) -> LocationSync:
    """Ask the upstream for its locations and import them; a failure is recorded as a run with the error."""
    from .upstream.client import UpstreamClient

    try:
        answer = UpstreamClient().list_locations()
        return import_locations_answer(answer=answer, started_by=started_by)
    except Exception as exc:
        LocationSync.objects.create(
            source=SOURCE_UPSTREAM,
            started_by=started_by,
            errors=[{"where": "upstream", "message": f"{exc.__class__.__name__}: {exc}"}],
        )
        raise


@shared_task(name="workvisits.import_locations")
def import_locations() -> str:
    """Periodic: bring the locations catalogue in line with the upstream."""
    sync = import_locations_from_upstream()
    return f"{sync_counts(sync)}; {len(sync.errors)} errors"
