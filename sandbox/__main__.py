"""``python -m sandbox [--host 127.0.0.1] [--port 8001] [--data FILE]``: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Serve the sandbox upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed when ready)")
    parser.add_argument("--data", help="catalogue JSON file (default: sandbox/data/demo.json)")
    parser.add_argument("--step-seconds", type=float,
                        help="sandbox seconds an order stays RECEIVED, then IN_PROGRESS, before CLOSED (0: never)")
    parser.add_argument("--token-timeout", type=int, help="seconds a token is valid (default 3600)")
    args = parser.parse_args(argv)

    # The sandbox is its own Django project, whatever the caller's environment says.
    os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    if args.data:
        os.environ["SANDBOX_DATA"] = os.path.abspath(args.data)
    if args.step_seconds is not None:
        os.environ["SANDBOX_STATUS_STEP_SECONDS"] = str(args.step_seconds)
    if args.token_timeout is not None:
        os.environ["SANDBOX_TOKEN_TIMEOUT"] = str(args.token_timeout)

    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    from .server import serve
    from .state import get_sandbox

    get_sandbox()  # a bad catalogue file fails now, not on the first call
    server = serve(args.host, args.port, application)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    print(f"sandbox listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
