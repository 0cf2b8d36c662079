"""Settings of the work-visit portal. The only module that reads the environment."""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# HTTPS=true marks a deployment behind TLS: secure cookies, HSTS and the redirect to https.
HTTPS = env.bool("HTTPS", default=False)


def _development_secret_key() -> str:
    """A strong key kept under var/ so that a clone runs with nothing configured."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if HTTPS:  # a deployment: no default secret, ever
        raise ImproperlyConfigured("SECRET_KEY must be set (in the environment or .env) when HTTPS=true.")
    SECRET_KEY = _development_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # the trigram indexes of the searches (their operator class in an index)
    "crispy_forms",
    "crispy_bootstrap5",
    "formtools",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "axes",
    "csp",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "workvisits",
]

MIDDLEWARE = [
    "portal.correlation.CorrelationIdMiddleware",
    "workvisits.middleware.BadAddressMiddleware",
    "workvisits.middleware.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "workvisits.middleware.SessionIdleMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "workvisits.middleware.SecondFactorMiddleware",
    "workvisits.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "workvisits.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# Django's renderer with the commonest widget templates written in Python (workvisits/web/forms/renderer.py).
FORM_RENDERER = "workvisits.web.forms.renderer.FormRenderer"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file under `make run`.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Values travel as parameters (not spliced into the SQL text), and a statement a connection has
    # run twice is prepared, so PostgreSQL parses and plans it once per connection. Off behind a pooler
    # in transaction mode (PgBouncer before 1.21): see docs/operations.md, "Database".
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 2)
    # A process-wide pool of connections (Django's psycopg pool): the upstream worker gives its
    # connection back while it waits on the data centre and takes a warm one (prepared statements
    # kept) after, instead of opening a session per order. Its size bounds the process's sessions.
    DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
    if DATABASE_POOL_MAX_SIZE:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the sessions (Django requires 0)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
# An order, its parts and its first event stored by one statement on PostgreSQL (workvisits/graph_insert.py);
# off: the ORM's bulk_create() per table in a transaction.
GRAPH_INSERT_ONE_STATEMENT = env.bool("GRAPH_INSERT_ONE_STATEMENT", default=True)
# The submission, and the API's pages of orders, read orders with their parts by one statement on
# PostgreSQL (workvisits/graph_read.py); off: the ORM's select_related and one prefetch per set of parts.
ORDER_READ_ONE_STATEMENT = env.bool("ORDER_READ_ONE_STATEMENT", default=True)
# What an email batch that all went out leaves behind (its claims sent, its EMAIL events, its events
# notified) written by one statement on PostgreSQL (workvisits/notifications.py); off: a transaction of three.
EMAIL_BOOKKEEPING_ONE_STATEMENT = env.bool("EMAIL_BOOKKEEPING_ONE_STATEMENT", default=True)
# Catalogues read from the cache are kept in each process too, under their version (workvisits.catalogue).
CATALOGUE_PROCESS_MEMORY = env.bool("CATALOGUE_PROCESS_MEMORY", default=True)
# The web process moves what it loaded at start out of the cyclic collector's reach (portal/collector.py).
GC_FREEZE_AFTER_LOAD = env.bool("GC_FREEZE_AFTER_LOAD", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # A Redis that is down costs a request about a second, never a hang, and never an error:
                # the catalogue is read from the database instead.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                "IGNORE_EXCEPTIONS": True,
            },
            # Lets several portals (or test runs) share one Redis database without sharing keys.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Permission checks in one query (workvisits/permissions.py); signing in stays ModelBackend's.
    "workvisits.permissions.PermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: a few failures lock the username and address together for a while.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind TRUSTED_PROXY_COUNT proxies the caller's address is the Nth from the right of X-Forwarded-For
# (0: the connecting address). The lockout, the token throttle and the password reset all use it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "workvisits.throttles.axes_client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The portal speaks English only (no LocaleMiddleware, no translations): Django's translation machinery
# off, as its documentation offers for performance; formats are still localized (en-us). Every gettext
# of the admin's per-cell rendering cost a tenth of the order list (docs/performance.md, "Scale").
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # collectstatic fills it; WhiteNoise serves it
WHITENOISE_USE_FINDERS = True
STORAGES = {
    # Uploaded attachments live outside every web-served folder and are streamed by a checked view.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.path("MEDIA_ROOT", default=VAR_DIR / "uploads")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o600

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Work visits <workvisits@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
OPERATORS_EMAILS = env.list("OPERATORS_EMAILS", default=[])
# Where people reach the portal: the links in emails and calendar entries start with it.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

# The upstream Equinix-compatible API; the built-in sandbox by default.
SANDBOX_PORT = env.int("SANDBOX_PORT", default=8001)
UPSTREAM_BASE_URL = env.str("UPSTREAM_BASE_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}")
UPSTREAM_CLIENT_ID = env.str("UPSTREAM_CLIENT_ID", default="sandbox-client")
UPSTREAM_CLIENT_SECRET = env.str("UPSTREAM_CLIENT_SECRET", default="sandbox-secret")
UPSTREAM_CONNECT_TIMEOUT = 5.0
UPSTREAM_READ_TIMEOUT = env.float("UPSTREAM_READ_TIMEOUT", default=30.0)
# Calls a second to the upstream, all workers together (workvisits/upstream/ratelimit.py).
UPSTREAM_MAX_RPS = env.int("UPSTREAM_MAX_RPS", default=20)
UPSTREAM_RATE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="")
# A worker's claim on an order while it talks to the upstream (workvisits/submission.py): every call
# of one attempt ends within it, and a worker killed mid-attempt frees the order when it runs out.
SUBMIT_LEASE_SECONDS = env.int("SUBMIT_LEASE_SECONDS", default=60)
# Order History's createdAt may differ this much from the portal's clock.
UPSTREAM_CLOCK_SKEW_SECONDS = 300
# After a create whose answer was lost, the look-up waits at least this long: a search that finds nothing
# means "never arrived" only once a new order has had time to show in Order History.
UPSTREAM_LOOKUP_DELAY_SECONDS = env.float("UPSTREAM_LOOKUP_DELAY_SECONDS", default=60.0)

# Celery: configured here with the CELERY_ namespace.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_TASK_MAX_SECONDS = env.int("CELERY_TASK_MAX_SECONDS", default=300)
# Transient upstream errors: exponential backoff with jitter from the base delay, capped; after
# UPSTREAM_MAX_ATTEMPTS the order is FAILED and the operators are emailed.
CELERY_RETRY_BASE_DELAY = env.float("CELERY_RETRY_BASE_DELAY", default=10.0)
CELERY_RETRY_MAX_DELAY = env.float("CELERY_RETRY_MAX_DELAY", default=900)
UPSTREAM_MAX_ATTEMPTS = env.int("UPSTREAM_MAX_ATTEMPTS", default=8)
# The sweeper (the outbox of work no message carries) sends again what has waited this long.
SWEEP_AFTER_SECONDS = env.int("SWEEP_AFTER_SECONDS", default=30)
SWEEP_EVERY_SECONDS = env.float("SWEEP_EVERY_SECONDS", default=30.0)
# Status sync: each open order at most every STATUS_SYNC_MIN_AGE seconds, a batch per run.
STATUS_SYNC_SECONDS = env.int("STATUS_SYNC_SECONDS", default=300)
STATUS_SYNC_MIN_AGE = env.int("STATUS_SYNC_MIN_AGE", default=240)
STATUS_SYNC_BATCH = env.int("STATUS_SYNC_BATCH", default=100)
# Longer than any task and any retry countdown, or Redis would redeliver a task still running.
CELERY_VISIBILITY_TIMEOUT = max(2 * 3600, int(CELERY_RETRY_MAX_DELAY + CELERY_TASK_MAX_SECONDS) * 2)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # No acknowledgement bookkeeping in Redis: with it, a worker that lost Redis while it held
    # unacknowledged tasks and waited for more stopped ("Unrecoverable error", kombu's channel closed
    # twice). A task a dying worker held is not redelivered by Redis (nor after visibility_timeout): the
    # sweeper sends the work again (docs/operations.md, "Redis restarts").
    "ack_emulation": False,
    # A down broker costs a web request a fraction of a second, never a hang: the sweeper sends later.
    "socket_connect_timeout": 0.25,
    "socket_timeout": 5,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_TIMEOUT = 0.25
CELERY_TASK_PUBLISH_RETRY = False
# Celery's defaults, written out: Celery looks both up on every publish, and a setting not found here is
# looked for under three more names (each an AttributeError) before the default; 2 % of a create's CPU.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BROKER_POOL_ACQUIRE_TIMEOUT = None
# Calls to the upstream wait on the network: they run on their own queue, consumed by a worker with
# the threads pool and a high concurrency (README, "Running"); everything else on the default queue.
UPSTREAM_QUEUE = "upstream"
CELERY_TASK_ROUTES = {
    name: {"queue": UPSTREAM_QUEUE}
    for name in ("workvisits.submit_order", "workvisits.modify_order", "workvisits.cancel_order")
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange tables too, under var/ (kombu's default is ./control at the working directory).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_CACHE_BACKEND = "django-cache"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = CELERY_TASK_MAX_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_MAX_SECONDS - 30
CELERY_TASK_TRACK_STARTED = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sync upstream statuses": {"task": "workvisits.sync_statuses", "schedule": float(STATUS_SYNC_SECONDS)},
    "visit reminders": {"task": "workvisits.send_reminders", "schedule": 3600.0},
    "sweep stuck orders": {"task": "workvisits.sweep_orders", "schedule": SWEEP_EVERY_SECONDS},
    "worker heartbeat": {"task": "workvisits.heartbeat", "schedule": 60.0},
    "import locations": {"task": "workvisits.import_locations", "schedule": 6 * 3600.0},
    "anonymize personal data": {"task": "workvisits.anonymize_orders", "schedule": 24 * 3600.0},
    "remove unused uploads": {"task": "workvisits.remove_unused_uploads", "schedule": 3600.0},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Work visits portal API (Work Visits v2 compatible)",
    "DESCRIPTION": "Schedule, change, cancel and follow data-centre work visits.",
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Our error bodies are arrays (the upstream's format), on 4xx responses too.
    "ENABLE_LIST_MECHANICS_ON_NON_2XX": True,
    # The docs pages use vendored assets: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        # The API's enumerations by name (several share a field name such as "type" or "status").
        "DetailTypeEnum": "workvisits.api.schemas.DETAIL_TYPES",
        "PurchaseOrderTypeEnum": "workvisits.api.schemas.PURCHASE_ORDER_TYPES",
        "PortalStatusEnum": "workvisits.api.schemas.PORTAL_STATUSES",
        "OrderContactTypeEnum": "workvisits.api.schemas.ORDER_CONTACT_TYPES",
        "ModifyContactTypeEnum": "workvisits.api.schemas.MODIFY_CONTACT_TYPES",
        "ProductTypeEnum": "workvisits.api.schemas.PRODUCT_TYPES",
        "OrderStatusEnum": "workvisits.api.schemas.UPSTREAM_ORDER_STATUSES",
        "OrderHistoryStatusEnum": "workvisits.api.schemas.HISTORY_ORDER_STATUSES",
        "OrderHistoryStatusFilterEnum": "workvisits.api.schemas.HISTORY_FILTER_STATUSES",
    },
}

API_TOKEN_SECONDS = env.int("API_TOKEN_SECONDS", default=3600)
# The key of the API client secrets' HMAC. Set it on its own to rotate SECRET_KEY without re-issuing
# every client's secret; by default it is SECRET_KEY.
API_SECRET_KEY = env.str("API_SECRET_KEY", default="") or SECRET_KEY

if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
# A session ends after SESSION_IDLE_HOURS without a request (each request starts the period again).
SESSION_IDLE_HOURS = env.float("SESSION_IDLE_HOURS", default=12)
SESSION_COOKIE_AGE = int(SESSION_IDLE_HOURS * 3600)
# The period starts again by a write of the session at most this often (workvisits.middleware), not by a
# write on every request: a session ends up to this much before SESSION_IDLE_HOURS are over.
SESSION_REFRESH_SECONDS = min(300, SESSION_COOKIE_AGE // 100)
# No inline script anywhere: every script is a static file of the portal (or of the admin and API docs).
# Inline style attributes stay allowed (the admin, Bootstrap's and the API docs' widgets use them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "portal.correlation.CorrelationIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["correlation"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # A worker's start ("celery@host ready.") and stop are logged whatever LOG_LEVEL says.
        "celery.apps.worker": {"level": "INFO"},
    },
}

# Visit series (workvisits/series.py): each occurrence's order is created this many days before it; the
# beat looks for due occurrences every SERIES_MATERIALIZE_SECONDS.
SERIES_LEAD_DAYS = env.int("SERIES_LEAD_DAYS", default=14)
SERIES_MATERIALIZE_SECONDS = env.int("SERIES_MATERIALIZE_SECONDS", default=900)
CELERY_BEAT_SCHEDULE["materialize visit series"] = {
    "task": "workvisits.materialize_series",
    "schedule": float(SERIES_MATERIALIZE_SECONDS),
}

# Webhooks (workvisits/webhooks.py, docs/api.md "Webhooks"): signed deliveries of order events to the
# organizations' endpoints.
# Endpoints on loopback, private, link-local and other non-global addresses (and plain http) are refused,
# at registration and again after each delivery's DNS lookup. Only the tests switch this on.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
# The key each endpoint's signing secret is derived from (HMAC-SHA-256 of the endpoint's stored nonce).
# Set it on its own to rotate SECRET_KEY without changing every endpoint's secret.
WEBHOOKS_SECRET_KEY = env.str("WEBHOOKS_SECRET_KEY", default="") or SECRET_KEY
WEBHOOKS_CONNECT_TIMEOUT = 5.0
WEBHOOKS_READ_TIMEOUT = env.float("WEBHOOKS_READ_TIMEOUT", default=10.0)
WEBHOOKS_RETRY_BASE_SECONDS = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=10.0)
WEBHOOKS_RETRY_MAX_SECONDS = env.float("WEBHOOKS_RETRY_MAX_SECONDS", default=3600.0)
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=30)
WEBHOOKS_DISABLE_AFTER_HOURS = env.float("WEBHOOKS_DISABLE_AFTER_HOURS", default=24.0)
# A worker's claim on a delivery outlasts one attempt (connect + read timeouts).
WEBHOOKS_LEASE_SECONDS = int(WEBHOOKS_CONNECT_TIMEOUT + WEBHOOKS_READ_TIMEOUT) * 2 + 10
# Finished deliveries (they hold the order's people) are removed after this many days.
WEBHOOKS_KEEP_DAYS = env.int("WEBHOOKS_KEEP_DAYS", default=30)
WEBHOOKS_SWEEP_SECONDS = env.float("WEBHOOKS_SWEEP_SECONDS", default=SWEEP_EVERY_SECONDS)
# Deliveries wait on customers' networks (up to the timeouts above): on the threads-pool worker too.
CELERY_TASK_ROUTES["workvisits.deliver_webhook"] = {"queue": UPSTREAM_QUEUE}
CELERY_BEAT_SCHEDULE["sweep webhook deliveries"] = {
    "task": "workvisits.sweep_webhooks",
    "schedule": WEBHOOKS_SWEEP_SECONDS,
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"],
    "WebhookEventEnum": "workvisits.api.webhooks.WEBHOOK_EVENTS",
    "WebhookDeliveryStatusEnum": "workvisits.api.webhooks.DELIVERY_STATUSES",
}
# Staff sign in with a second factor (django-otp TOTP, workvisits/mfa.py) to use the admin: always with
# HTTPS=true (a deployment), on request elsewhere. Customers may enrol; once enrolled, they are asked too.
STAFF_MFA_REQUIRED = HTTPS or env.bool("STAFF_MFA_REQUIRED", default=False)
OTP_TOTP_ISSUER = "Work-visit portal"
