"""Settings, read from the environment once, here.

Defaults run on a fresh clone: a SQLite file under ``var/`` and the django-q2 ORM
broker. ``DATABASE_URL`` switches the database, ``GATEWAY_QUEUE=redis`` the broker.
``GATEWAY_MODE=production`` refuses unsafe settings instead of guessing.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GATEWAY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


MODE = os.environ.get("GATEWAY_MODE", "development")
if MODE not in ("development", "production"):
    raise ImproperlyConfigured("GATEWAY_MODE must be 'development' or 'production'")
PRODUCTION = MODE == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "*")

if PRODUCTION:
    problems = []
    if len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY is missing or shorter than 32 characters")
    if DEBUG:
        problems.append("DEBUG is on")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is empty (comma-separated host names)")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start in production mode: " + "; ".join(problems) + ". "
            "Set them in the environment, or unset GATEWAY_MODE for development."
        )
elif not SECRET_KEY:
    SECRET_KEY = "development-only-secret-key-do-not-use-in-production-0123456789"

# Keyed hash of API key secrets and the key for vendor credentials at rest.
# Both default to values derived from SECRET_KEY; set them explicitly to rotate SECRET_KEY
# without invalidating every issued key and stored credential.
GATEWAY_KEY_PEPPER = os.environ.get("GATEWAY_KEY_PEPPER", "")
GATEWAY_ENCRYPTION_KEYS = env_list("GATEWAY_ENCRYPTION_KEYS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI, vendored: /docs works offline
    "django_q",
    "accounts",
    "channels",
    "videos",
]

MIDDLEWARE = [
    "config.observability.ObservabilityMiddleware",  # X-Request-Id, request metrics: first, sees every response
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # sends CONTENT_SECURITY_POLICY when it is set (production)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.locale.PageLocaleMiddleware",  # pages: the switch's cookie, else Accept-Language; APIs: English
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.middleware.NulGuardMiddleware",  # pages: a NUL in the path, query or form is a 400, not a 500
    "config.errors.NotFoundPageMiddleware",  # DEBUG: the product's 404 page, not Django's list of URL patterns
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

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
                "accounts.context_processors.dashboard",
            ],
        },
    },
]

# Both databases keep a connection open across requests for up to a minute (reopening one cost more
# than the rest of a status read) and check it is still usable when a request picks it up again.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)}
    # One test database per test run, so two runs against one server do not collide.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("PG_TEST_DATABASE", f"test_gateway_{os.getpid()}")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "gateway.sqlite3")),
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE takes the
                # write lock up front so two writers queue instead of deadlocking.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not memory: live-server tests share it across threads. One per test run,
            # so two runs on one checkout do not share (and break) each other's database.
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))},
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Finished videos are copied here so they outlive the vendor's expiring URLs.
MEDIA_ROOT = Path(os.environ.get("GATEWAY_MEDIA_ROOT", VAR_DIR / "media"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# A failed CSRF check answers 403_csrf.html in the product's layout, with the signed-in user's navigation.
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # HSTS: browsers keep to https for this long once they have seen it (0 turns it off).
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Content-Security-Policy (django-csp): same-origin scripts, styles, images and media only; no
# inline script or style (the templates and static/js/app.js have none). Sent in production.
CSP_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # /docs (drf-spectacular's Swagger UI): its one inline <style> element, by hash, and the
        # data: icons its CSS uses. tests/browser/test_csp.py fails if an upgrade changes them.
        "style-src": ["'self'", "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CONTENT_SECURITY_POLICY = CSP_POLICY if PRODUCTION else None
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The client API's OpenAPI document (/openapi.json) and its docs page (/docs): videos/api/schema.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "Video Gateway client API",
    "DESCRIPTION": "OpenAI /v1/videos, the unified /v1/video/generations, /v1/models and the vendor-native routes.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["videos.api.schema.exclude_catch_alls"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "videos.api.schema.add_components"],
}
# DATA_UPLOAD_MAX_MEMORY_SIZE is GATEWAY_MAX_BODY_BYTES, set below.

# django-q2: the ORM broker needs nothing else running; GATEWAY_QUEUE=redis uses REDIS_URL.
Q_CLUSTER = {
    "name": "gateway",
    "workers": env_int("GATEWAY_WORKERS", 3),  # one is usually busy with the poll tick
    "timeout": 90,  # a poll tick runs for GATEWAY_TICK_SECONDS (< timeout)
    "retry": 120,  # must exceed timeout, or a running tick is handed out twice
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 200,
    "ack_failures": True,
    "label": "Task queue",
}
if os.environ.get("GATEWAY_QUEUE", "orm") == "redis":
    Q_CLUSTER["redis"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1

# --- Gateway behaviour -------------------------------------------------------------
# Money: 1,000,000 units = 1 USD. Balances, holds and prices are integers in these units.
GATEWAY_UNITS_PER_USD = 1_000_000
# Models without a Price row are refused unless this is on (then they cost 0).
GATEWAY_ALLOW_UNPRICED = env_bool("GATEWAY_ALLOW_UNPRICED", False)
# The model of a `POST /v1/videos` that names none (the OpenAI SDK lets clients leave it out). Unset:
# such a create is a 400 asking for `model`.
GATEWAY_DEFAULT_VIDEO_MODEL = os.environ.get("GATEWAY_DEFAULT_VIDEO_MODEL", "").strip()
# A task not finished this long after creation is failed and its hold released.
GATEWAY_TASK_DEADLINE_SECONDS = env_int("GATEWAY_TASK_DEADLINE_SECONDS", 6 * 3600)
# How long one scheduled poll tick keeps picking due tasks before it returns.
GATEWAY_TICK_SECONDS = env_int("GATEWAY_TICK_SECONDS", 50)
# Polls in flight at once in each poller process (the scheduled tick in each worker, `manage.py poll`),
# each on a thread with its own database connection.
GATEWAY_POLL_CONCURRENCY = env_int("GATEWAY_POLL_CONCURRENCY", 16)
# Timeouts for every upstream HTTP call (seconds).
GATEWAY_UPSTREAM_CONNECT_TIMEOUT = env_int("GATEWAY_UPSTREAM_CONNECT_TIMEOUT", 10)
GATEWAY_UPSTREAM_TIMEOUT = env_int("GATEWAY_UPSTREAM_TIMEOUT", 60)
# The read timeout of a vendor's create call, shorter: a task without a vendor id after connect +
# this + a margin was interrupted mid-submit (videos.services.submit_grace).
GATEWAY_SUBMIT_TIMEOUT = env_int("GATEWAY_SUBMIT_TIMEOUT", 30)
# Finished videos larger than this are not copied; they are streamed from the vendor.
GATEWAY_MAX_VIDEO_BYTES = env_int("GATEWAY_MAX_VIDEO_BYTES", 2 * 1024**3)
# Copy finished videos to MEDIA_ROOT (verified) before they are charged. Off: nothing is copied,
# a video is charged once the vendor's URL answers with its full length, and /content relays it.
GATEWAY_STORE_RESULTS = env_bool("GATEWAY_STORE_RESULTS", True)
# How long after the vendor reports a video done its delivery is retried before the task fails
# (result_undeliverable) and its hold is released.
GATEWAY_DELIVERY_WINDOW_SECONDS = env_int("GATEWAY_DELIVERY_WINDOW_SECONDS", 3600)
# Client images the gateway downloads itself (SSRF guard, size cap).
GATEWAY_MAX_IMAGE_BYTES = env_int("GATEWAY_MAX_IMAGE_BYTES", 10 * 1024 * 1024)
# Client input limits (413/400 above them): a request body (sized for four images at the image limit in
# base64 plus 1 MiB of JSON; uploads included), and a prompt or negative prompt in characters.
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 4 * (GATEWAY_MAX_IMAGE_BYTES * 4 // 3 + 4) + 1024**2)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES
GATEWAY_MAX_PROMPT_CHARS = env_int("GATEWAY_MAX_PROMPT_CHARS", 10_000)
GATEWAY_ALLOW_PRIVATE_URLS = env_bool("GATEWAY_ALLOW_PRIVATE_URLS", False)
# Webhooks to tenants: the timeout of one delivery attempt (seconds), how long an event is retried
# (hours, from when it happened), and after how many days of failing without a success an endpoint
# is disabled.
GATEWAY_WEBHOOK_TIMEOUT = env_int("GATEWAY_WEBHOOK_TIMEOUT", 10)
GATEWAY_WEBHOOK_RETRY_HOURS = env_int("GATEWAY_WEBHOOK_RETRY_HOURS", 72)
GATEWAY_WEBHOOK_DISABLE_DAYS = env_int("GATEWAY_WEBHOOK_DISABLE_DAYS", 3)
# How long finished videos stay downloadable (expires_at on the Video object).
GATEWAY_RESULT_TTL_SECONDS = env_int("GATEWAY_RESULT_TTL_SECONDS", 7 * 24 * 3600)
# Lifetime of the signed video_url links handed to native clients.
GATEWAY_SIGNED_URL_TTL_SECONDS = env_int("GATEWAY_SIGNED_URL_TTL_SECONDS", 24 * 3600)
# The gateway's public base URL (e.g. https://gateway.example.com), which vendors can reach. Set:
# Kling, Vidu, Seedance and MiniMax are sent a per-task callback URL under it and call back when a
# task changes state (polling stays the fallback). Unset: no callbacks, every task is polled.
GATEWAY_PUBLIC_URL = os.environ.get("GATEWAY_PUBLIC_URL", "").strip().rstrip("/")
if GATEWAY_PUBLIC_URL and not GATEWAY_PUBLIC_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"GATEWAY_PUBLIC_URL must start with https:// (or http://), got {GATEWAY_PUBLIC_URL!r}")
# Run background jobs inline (tests).
GATEWAY_SYNC_TASKS = env_bool("GATEWAY_SYNC_TASKS", False)
# Use X-Forwarded-For's first address as the client IP (only behind a trusted proxy).
GATEWAY_TRUST_X_FORWARDED_FOR = env_bool("GATEWAY_TRUST_X_FORWARDED_FOR", False)

# /metrics answers a staff session or "Authorization: Bearer <this>" (unset: staff only).
GATEWAY_METRICS_TOKEN = os.environ.get("GATEWAY_METRICS_TOKEN", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # request_id: the X-Request-Id of the request being served ("-" in the worker), accounts/request_id.py.
    "filters": {"request_id": {"()": "accounts.request_id.RequestIdFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
