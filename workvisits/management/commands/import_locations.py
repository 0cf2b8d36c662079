"""Import the locations catalogue: from the upstream (default), saved answers, or a CSV file."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workvisits import locations


def _read_json(path: Path, what: str):
    text = Path(path).read_text(encoding="utf-8")
    if not text.strip():
        return None  # an empty answer (the upstream's 204)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path} is not a saved {what} answer: it is not JSON ({exc}).") from None


class Command(BaseCommand):
    help = (
        "Bring the IBXs, cages, accounts and cabinets in line with the upstream's Lookup v2 locations "
        "(merged with the v1 work-visit locations for credit hold and purchase-order flags), or with a saved "
        "Lookup v2 answer (--answer, optionally --v1-answer), or a CSV file (--csv); report what changed."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--answer", type=Path, help="a saved answer of GET /colocations/v2/locations?permissionCode=WORK_VISIT"
        )
        source.add_argument("--csv", type=Path, help=f"a CSV file with the columns {', '.join(locations.CSV_COLUMNS)}")
        parser.add_argument(
            "--v1-answer", type=Path, help="with --answer: a saved answer of GET /v1/orders/workvisit/locations"
        )

    def handle(self, *args, answer=None, csv=None, v1_answer=None, **options):
        if v1_answer and not answer:
            raise CommandError("--v1-answer goes with --answer (the saved Lookup v2 answer).")
        try:
            if csv:
                sync = locations.import_locations_csv(data=Path(csv).read_bytes())
            elif answer:
                sync = locations.import_locations_answer(
                    answer=_read_json(answer, "Lookup v2"),
                    v1_answer=_read_json(v1_answer, "v1 locations") if v1_answer else None,
                )
            else:
                sync = self._from_upstream()
        except (locations.ImportRefused, OSError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Locations import #{sync.pk} from {sync.source}: {locations.sync_counts(sync)}.")
        for kind, changes in sync.summary.items():
            for what, names in changes.items():
                if names:
                    self.stdout.write(f"  {kind} {what}: {', '.join(names)}")
        for error in sync.errors:
            self.stderr.write(f"  refused {error['where']}: {error['message']}")

    def _from_upstream(self):
        try:
            return locations.import_locations_from_upstream()
        except locations.ImportRefused:
            raise
        except Exception as exc:  # the upstream's failure, already recorded as a LocationSync
            raise CommandError(f"The upstream could not be asked: {exc}") from exc
