"""The demo catalogue the sandbox serves and validates against, read from a JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Account:
    number: str
    name: str
    organization: str
    credit_hold: bool
    po_bearing: bool


@dataclass(frozen=True)
class Cabinet:
    cabinet_id: str
    account_number: str
    cabinet_type: str = "CABINET"


@dataclass(frozen=True)
class Cage:
    cage_id: str
    ibx: str
    account_numbers: tuple[str, ...]
    cabinets: tuple[Cabinet, ...]
    cage_type: str = "CAGE"

    def cabinet(self, cabinet_id: str) -> Cabinet | None:
        return next((c for c in self.cabinets if c.cabinet_id == cabinet_id), None)

    def account_for(self, account_number: str | None, cabinet_id: str | None) -> str:
        """The account an order line on this cage is placed on: the one named, else the cabinet's, else the
        cage's only (or first) account."""
        if account_number:
            return account_number
        cabinet = self.cabinet(cabinet_id) if cabinet_id else None
        return cabinet.account_number if cabinet else self.account_numbers[0]


@dataclass(frozen=True)
class User:
    user_name: str
    first_name: str
    last_name: str
    email: str
    # The customer organizations whose accounts the user may order work visits on (and whose users it may
    # name): the upstream's work-visit permission, per organization.
    organizations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    ibxs: dict[str, dict]
    accounts: dict[str, Account]
    cages: dict[str, Cage]
    users: dict[str, User]
    api_user: str
    other_clients: tuple[dict, ...] = field(default=())

    def cages_in(self, ibx: str, organizations: frozenset[str] | None = None) -> list[Cage]:
        """The IBX's cages; with `organizations`, only those with an account of one of them."""
        cages = [c for c in self.cages.values() if c.ibx == ibx]
        if organizations is None:
            return cages
        return [c for c in cages if self.accounts_of(c, organizations)]

    def accounts_of(self, cage: Cage, organizations: frozenset[str]) -> list[str]:
        """The cage's account numbers that belong to one of `organizations`."""
        return [n for n in cage.account_numbers if self.accounts[n].organization in organizations]


def load(path: str | Path) -> Catalogue:
    """Read a catalogue file; a malformed one fails here, at start-up, naming what is wrong."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    accounts = {
        a["number"]: Account(
            number=a["number"],
            name=a["name"],
            organization=a.get("organization", ""),
            credit_hold=bool(a.get("isCreditHold")),
            po_bearing=bool(a.get("isPOBearing")),
        )
        for a in raw["accounts"]
    }
    ibxs = {i["ibx"]: i for i in raw["ibxs"]}
    cages = {}
    for c in raw["cages"]:
        if c["ibx"] not in ibxs:
            raise ValueError(f"cage {c['id']}: unknown IBX {c['ibx']}")
        for number in c["accountNumbers"]:
            if number not in accounts:
                raise ValueError(f"cage {c['id']}: unknown account {number}")
        cabinets = tuple(
            Cabinet(cabinet_id=k["id"], account_number=k["accountNumber"], cabinet_type=k.get("type", "CABINET"))
            for k in c.get("cabinets", [])
        )
        for cabinet in cabinets:
            if cabinet.account_number not in c["accountNumbers"]:
                raise ValueError(f"cabinet {cabinet.cabinet_id}: account {cabinet.account_number} is not on the cage")
        cages[c["id"]] = Cage(
            cage_id=c["id"], ibx=c["ibx"], account_numbers=tuple(c["accountNumbers"]), cabinets=cabinets,
            cage_type=c.get("type", "CAGE"),
        )
    users = {
        u["userName"]: User(user_name=u["userName"], first_name=u.get("firstName", ""),
                            last_name=u.get("lastName", ""), email=u.get("email", ""),
                            organizations=tuple(u.get("organizations", ())))
        for u in raw["users"]
    }
    api_user = raw.get("apiUser") or next(iter(users))
    return Catalogue(ibxs=ibxs, accounts=accounts, cages=cages, users=users, api_user=api_user,
                     other_clients=tuple(raw.get("otherClients", [])))
