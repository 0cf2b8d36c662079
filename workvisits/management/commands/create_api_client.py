"""Client credentials for the JSON API, acting as an existing user with that user's permissions."""

from django.core.management.base import BaseCommand, CommandError

from workvisits.models import User
from workvisits.services import api_client_create


class Command(BaseCommand):
    help = "Create JSON API client credentials for USERNAME; the secret is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label, e.g. the script that will use it.")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        client, secret = api_client_create(user=user, name=name)
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stderr.write("Store the secret now: it is kept only as a hash and cannot be shown again.")
