"""Run the sandbox upstream (the portal's default UPSTREAM_BASE_URL) until Ctrl-C."""

from django.conf import settings
from django.core.management.base import BaseCommand

from workvisits.upstream.sandbox import make_server


class Command(BaseCommand):
    help = "Serve the sandbox Work Visits v2 upstream on 127.0.0.1:SANDBOX_PORT."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=60.0,
            help="seconds an order stays RECEIVED, then IN_PROGRESS, before it is CLOSED (0: stays RECEIVED)",
        )

    def handle(self, *args, host, port, step_seconds, **options):
        server = make_server(
            host,
            port,
            client_id=settings.UPSTREAM_CLIENT_ID,
            client_secret=settings.UPSTREAM_CLIENT_SECRET,
            step_seconds=step_seconds,
        )
        self.stdout.write(f"Sandbox upstream on http://{host}:{port}/ (Ctrl-C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
