"""Liveness and readiness probes: cheap, no login, no upstream I/O."""

from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The database answers. (Redis, broker and worker checks are added by the operations work.)"""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
