"""The Celery app, configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery, signals

from . import correlation

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["portal"], related_name="health")  # the workers' heartbeat
CORRELATION_HEADER = "portal_correlation_id"
# The correlation-id binding of each running task, by task id: under the threads pool several tasks
# run at once in one process, so it cannot live on the (shared) task object.
_bindings: dict[str, object] = {}


@signals.setup_logging.connect
def _use_django_logging(**_):
    """Workers and beat keep Django's LOGGING (JSON lines with the correlation id) instead of Celery's format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _carry_correlation_id(headers=None, **_):
    if headers is not None and correlation.get():
        # Not "correlation_id": Celery gives that name to the AMQP property, which is the task id.
        headers.setdefault(CORRELATION_HEADER, correlation.get())


@signals.task_prerun.connect
def _bind_correlation_id(task_id=None, task=None, **_):
    request = task.request if task else None
    value = getattr(request, CORRELATION_HEADER, None) or task_id
    _bindings[task_id] = correlation.bind(value)


@signals.task_postrun.connect
def _unbind_correlation_id(task_id=None, **_):
    token = _bindings.pop(task_id, None)
    if token is not None:
        correlation.reset(token)


@app.task(name="portal.ping")
def ping() -> str:
    """A trivial task: operators run it to see a worker answer and a result stored."""
    return "pong"
