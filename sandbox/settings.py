"""Minimal Django settings of the sandbox upstream: no database, no sessions, no auth apps."""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-only-not-a-secret-key")  # noqa: S105 - no secret data
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
MIDDLEWARE = ["sandbox.middleware.SandboxMiddleware"]
ROOT_URLCONF = "sandbox.urls"
USE_TZ = True
TIME_ZONE = "UTC"
APPEND_SLASH = False
# The sandbox checks sizes itself (attachments up to 10 MB) and answers with the upstream's error array.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SANDBOX_LOG_LEVEL", "WARNING")},
}

SANDBOX_DATA = os.environ.get("SANDBOX_DATA") or str(PACKAGE_DIR / "data" / "demo.json")
SANDBOX_CLIENT_ID = os.environ.get("SANDBOX_CLIENT_ID", "sandbox-client")
SANDBOX_CLIENT_SECRET = os.environ.get("SANDBOX_CLIENT_SECRET", "sandbox-secret")
SANDBOX_STATUS_STEP_SECONDS = float(os.environ.get("SANDBOX_STATUS_STEP_SECONDS", "60"))
SANDBOX_TOKEN_TIMEOUT = int(os.environ.get("SANDBOX_TOKEN_TIMEOUT", "3600"))
