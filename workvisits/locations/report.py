"""What a run of the import did: created, updated and retired names per kind, and each entry refused."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import LocationSync


@dataclass
class Report:
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


def sync_counts(sync: LocationSync) -> str:
    """A one-line account of a run: `cages 1 created, 2 updated, 0 retired; ...`."""
    parts = []
    for kind, changes in (sync.summary or {}).items():
        if any(changes.values()):
            parts.append(f"{kind} " + ", ".join(f"{len(v)} {k}" for k, v in changes.items()))
    return "; ".join(parts) or "no change"
