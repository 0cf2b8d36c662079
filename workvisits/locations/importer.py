"""Applying entries to the catalogue, one LocationSync row a run; the entry points for the upstream, a saved
answer and a CSV file, and the periodic task."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import rules
from ..catalogue import catalogue_changed
from ..csv_files import csv_text
from ..models import IBX, Account, Cabinet, Cage, LocationSync, Organization, User
from ..upstream.client import UpstreamClient
from ..upstream.errors import UpstreamError
from .readers import Entry, ImportRefused, entries_from_csv, entries_from_lookup
from .report import Report, sync_counts

logger = logging.getLogger(__name__)

SOURCE_UPSTREAM = "upstream"
SOURCE_CSV = "csv"


def _message(error: ValidationError) -> str:
    return " ".join(m for messages in error.message_dict.values() for m in messages)


class _Importer:
    def __init__(self, report: Report):
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
        # A flag the source does not state (Lookup v2 without the v1 answer) stays as it was.
        hold = entry.credit_hold if entry.credit_hold is not None else bool(account and account.is_credit_hold)
        po = entry.po_bearing if entry.po_bearing is not None else bool(account and account.is_po_bearing)
        wanted = {
            "name": entry.account_name or (account.name if account else entry.account_number),
            "is_credit_hold": hold,
            "is_po_bearing": po,
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


def _apply(entries: list[Entry], report: Report, *, retire_in: set[str] | None) -> None:
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
    report = Report(errors=list(errors))
    with transaction.atomic():
        _apply(entries, report, retire_in=retire_in)
        sync = LocationSync.objects.create(
            source=source, started_by=started_by, summary=report.summary, errors=report.errors
        )
    logger.info("locations import from %s: %s; %d errors", source, sync_counts(sync), len(sync.errors))
    return sync


def import_locations_answer(
    *, answer, v1_answer=None, started_by: User | None = None, notes: list[dict] | None = None
) -> LocationSync:
    """Bring the catalogue in line with a Lookup v2 answer (with the v1 answer's credit-hold and PO flags when
    given): it is the whole truth, so what it no longer lists is retired. An answer that cannot be read, or
    lists no cage at all, is refused (ImportRefused, with the reason) and changes nothing. `notes` are
    reported with the run's errors."""
    entries, errors = entries_from_lookup(answer, v1_answer)
    if not any(e.cage for e in entries):
        raise ImportRefused("The upstream listed no cage at all; nothing was changed or retired.")
    return _run(SOURCE_UPSTREAM, entries, [*(notes or []), *errors], started_by=started_by, retire_in=None)


def import_locations_csv(*, data: bytes, started_by: User | None = None) -> LocationSync:
    """Import a CSV file: good rows are applied, bad rows reported with their line; cages and cabinets of
    the IBXs the file names that it no longer lists are retired."""
    entries, errors = entries_from_csv(csv_text(data, refused=ImportRefused))
    if not entries:
        raise ImportRefused("The CSV file has no rows.")
    retire_in = {e.ibx for e in entries if e.ibx}
    return _run(SOURCE_CSV, entries, errors, started_by=started_by, retire_in=retire_in)


def import_locations_from_upstream(*, started_by: User | None = None) -> LocationSync:
    """Ask the upstream (Lookup v2, then v1 for the flags) and import the answer. A failure or refusal is
    recorded as a run with the reason and nothing else changed; an unavailable v1 answer only leaves the
    flags as they were, and says so in the run's errors."""
    client = UpstreamClient()
    try:
        try:
            answer = client.lookup_locations()
        except ValueError as exc:
            raise ImportRefused(f"The upstream's Lookup v2 answer cannot be read: {exc}.") from None
        notes = []
        try:
            v1_answer = client.workvisit_locations_v1()
        except ValueError as exc:
            raise ImportRefused(f"The upstream's v1 locations answer cannot be read: {exc}.") from None
        except UpstreamError as exc:
            v1_answer = None
            notes.append(
                {
                    "where": "v1 locations",
                    "message": f"Not available ({exc}): credit-hold flags (but for accounts Lookup v2 marks "
                    "allowOrder false, now on hold) and purchase-order flags were left as they were.",
                }
            )
        return import_locations_answer(answer=answer, v1_answer=v1_answer, started_by=started_by, notes=notes)
    except Exception as exc:
        message = str(exc) if isinstance(exc, ImportRefused) else f"{exc.__class__.__name__}: {exc}"
        LocationSync.objects.create(
            source=SOURCE_UPSTREAM, started_by=started_by, errors=[{"where": "upstream", "message": message}]
        )
        raise
