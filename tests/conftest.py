"""Shared fixtures: the demo catalogue and personas, and a guard that CI runs on real services."""

import os
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.sandbox_support import visit_body as sandbox_visit_body


def pytest_configure(config):
    # The demo users' passwords are hashed for every test; the production hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Cache keys of one test run (its xdist workers and the worker processes its tests start inherit
    # the variable) never meet those of an earlier run on the same Redis, such as login or token
    # failure counters.
    prefix = os.environ.setdefault("CACHE_KEY_PREFIX", f"test-{uuid.uuid4().hex[:12]}")
    # What tests enqueue without a broker of their own stays in this process, never in the checkout's
    # var/broker, where `make run`'s workers would take it afterwards. (Set before the Celery app first
    # reads its configuration, which it takes from these settings.)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        settings.CELERY_BROKER_URL = "memory://"
    if "KEY_PREFIX" in settings.CACHES["default"] or "Redis" in settings.CACHES["default"]["BACKEND"]:
        settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}


def pytest_sessionstart(session):
    # In CI the suite must run on PostgreSQL; a missing service is a failure, never a skip.
    if os.environ.get("CI") and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError("CI must run the suite on PostgreSQL: set DATABASE_URL.")


@pytest.fixture(autouse=True)
def strict_api_errors(settings):
    """Every API error response of every test keeps to the upstream's error keys (tests.api_support)."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.api_support.StrictErrorKeys"]


@pytest.fixture
def demo(db):
    """The demo organizations, locations and users, made by the same command operators run."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
def users(demo):
    from workvisits.models import User

    return {u.username: u for u in User.objects.all()}


@pytest.fixture
def orderer(users):
    return users["orderer"]


@pytest.fixture
def viewer(users):
    return users["viewer"]


@pytest.fixture
def globex(users):
    return users["globex"]


def visit_body(start=None, hours=4, **overrides):
    """A valid create body for the demo organization Acme (the orderer visits), starting tomorrow unless told."""
    return sandbox_visit_body(start, hours, visitor="orderer", **overrides)


@pytest.fixture
def make_body():
    return visit_body


@pytest.fixture
def published_tasks():
    """The tasks sent to the broker during the test, as (name, args), recorded by Celery's own signal."""
    from celery.signals import before_task_publish

    sent = []

    def record(sender=None, body=None, **kwargs):
        sent.append((sender, tuple(body[0]) if isinstance(body, list | tuple) else ()))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
