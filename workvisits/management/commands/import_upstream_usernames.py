"""Import the portal users' usernames at the data centre from a CSV file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workvisits import upstream_usernames


class Command(BaseCommand):
    help = (
        "Set the users' upstream (data centre) usernames from a CSV file with the columns "
        "username,upstream_username or email,upstream_username; a blank upstream_username removes it. "
        "Running it again with the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the CSV file")

    def handle(self, *args, file, **options):
        try:
            result = upstream_usernames.upstream_usernames_import(data=Path(file).read_bytes())
        except (upstream_usernames.UsernameImportRefused, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Upstream usernames: {result.summary()}.")
        for what in ("set", "cleared"):
            names = getattr(result, what)
            if names:
                self.stdout.write(f"  {what}: {', '.join(names)}")
        for row in result.refused:
            self.stderr.write(f"  refused {row['where']}: {row['message']}")
