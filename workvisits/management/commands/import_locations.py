"""Import the locations catalogue: from the upstream (default), a recorded answer, or a CSV file."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workvisits import locations


class Command(BaseCommand):
    help = (
        "Bring the IBXs, cages, accounts and cabinets in line with the upstream's locations API "
        "(or a saved JSON answer with --answer, or a CSV file with --csv) and report what changed."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--answer", type=Path, help="a saved JSON answer of the upstream's locations API")
        source.add_argument("--csv", type=Path, help=f"a CSV file with the columns {', '.join(locations.CSV_COLUMNS)}")

    def handle(self, *args, answer=None, csv=None, **options):
        try:
            if csv:
                sync = locations.import_locations_csv(data=Path(csv).read_bytes())
            elif answer:
                sync = locations.import_locations_answer(answer=json.loads(Path(answer).read_text()))
            else:
                sync = self._from_upstream()
        except (locations.ImportRefused, OSError, ValueError) as exc:
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
