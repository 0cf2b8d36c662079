"""The locations catalogue import: IBXs, cages, accounts and cabinets from the upstream's Lookup v2 answer
(with the v1 answer's credit-hold and purchase-order flags) or from a CSV file. Each run is one LocationSync
row reporting what it created, updated and retired, and every entry it could not use with the reason."""

from .importer import (
    SOURCE_CSV,
    SOURCE_UPSTREAM,
    import_locations_answer,
    import_locations_csv,
    import_locations_from_upstream,
)
from .readers import CSV_COLUMNS, Entry, ImportRefused, entries_from_csv, entries_from_lookup, facts_from_v1
from .report import sync_counts

__all__ = [
    "CSV_COLUMNS",
    "SOURCE_CSV",
    "SOURCE_UPSTREAM",
    "Entry",
    "ImportRefused",
    "entries_from_csv",
    "entries_from_lookup",
    "facts_from_v1",
    "import_locations_answer",
    "import_locations_csv",
    "import_locations_from_upstream",
    "sync_counts",
]
