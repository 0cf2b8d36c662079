"""Run the sandbox upstream (the portal's default UPSTREAM_BASE_URL) until Ctrl-C: ``python -m sandbox``."""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the sandbox upstream (python -m sandbox) on 127.0.0.1:SANDBOX_PORT with the portal's credentials."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument(
            "--step-seconds", type=float, default=None,
            help="seconds an order stays RECEIVED, then IN_PROGRESS, before it is CLOSED (0: stays RECEIVED)",
        )
        parser.add_argument("--data", default=None, help="the sandbox's catalogue file (default: its demo data)")

    def handle(self, *args, host, port, step_seconds, data, **options):
        command = [sys.executable, "-m", "sandbox", "--host", host, "--port", str(port)]
        if step_seconds is not None:
            command += ["--step-seconds", str(step_seconds)]
        if data:
            command += ["--data", os.path.abspath(data)]
        env = {
            **os.environ,
            "SANDBOX_CLIENT_ID": settings.UPSTREAM_CLIENT_ID,
            "SANDBOX_CLIENT_SECRET": settings.UPSTREAM_CLIENT_SECRET,
        }
        self.stdout.flush()
        # The sandbox is a project of its own; this process becomes it, so Ctrl-C and SIGTERM reach it directly.
        os.chdir(settings.BASE_DIR)
        os.execve(sys.executable, command, env)  # noqa: S606 - our own interpreter and module
