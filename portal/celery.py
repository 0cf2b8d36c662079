"""The Celery app, configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery, bootsteps, signals
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# redis:// brokers go through kombu's Redis transport with one client per channel (portal/broker.py).
TRANSPORT_ALIASES["redis"] = "portal.broker:Transport"

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
CORRELATION_HEADER = "portal_correlation_id"


class SubmissionRelay(bootsteps.StartStopStep):
    """In each worker's main process, the thread that sends newly queued orders for submission
    (workvisits/relay.py); on PostgreSQL only (on SQLite the web request sends them)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.relay = None

    def start(self, worker):
        from workvisits import relay

        if relay.relayed():
            self.relay = relay.Relay()
            self.relay.start()

    def stop(self, worker):
        if self.relay is not None:
            self.relay.stop()
            self.relay = None


app.steps["worker"].add(SubmissionRelay)


@signals.setup_logging.connect
def _use_django_logging(**_):
    """Workers and beat keep Django's LOGGING (JSON lines with the correlation id) instead of Celery's format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.worker_process_init.connect
def _check_reused_connections(**_):
    """A worker process keeps its database connection from task to task (see CELERY_DB_REUSE_MAX), so
    it checks it before each task: a database restart costs no task."""
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_HEALTH_CHECKS"] = True


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(task=None, **_):
    """Around each task, what Django does around each request: close connections that broke or grew old
    (not around a task run in the caller's process, whose transaction it would end)."""
    from django.db import close_old_connections

    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


@signals.before_task_publish.connect
def _carry_correlation_id(headers=None, **_):
    from workvisits import correlation

    if headers is not None and correlation.get():
        # Not "correlation_id": Celery gives that name to the AMQP property, which is the task id.
        headers.setdefault(CORRELATION_HEADER, correlation.get())


@signals.task_prerun.connect
def _bind_correlation_id(task=None, **_):
    from workvisits import correlation

    request = task.request if task else None
    value = getattr(request, CORRELATION_HEADER, None) or (request.id if request else None)
    task._correlation_token = correlation.bind(value)


@signals.task_postrun.connect
def _unbind_correlation_id(task=None, **_):
    from workvisits import correlation

    token = getattr(task, "_correlation_token", None)
    if token is not None:
        correlation.reset(token)
        task._correlation_token = None


@app.task(name="portal.ping")
def ping() -> str:
    """A trivial task: operators run it to see a worker answer and a result stored."""
    return "pong"
