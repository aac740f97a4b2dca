"""Django settings for Flowdash, every value from the environment with a safe default.

The defaults suit one person on a laptop: embedded moto, SQLite and the
in-memory channel layer, DEBUG off, loopback hosts only. Everything a
deployment changes is an environment variable (see README.md).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from messaging.config import BackendConfig

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FLOWDASH_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """FLOWDASH_SECRET_KEY, or one generated on first run and kept under var/ (not in git)."""
    if key := os.environ.get("FLOWDASH_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("FLOWDASH_DEBUG")
ALLOWED_HOSTS = _env_list("FLOWDASH_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("FLOWDASH_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",  # first, so runserver serves ASGI (HTTP and websockets)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "dashboard",
    "dashboard.classroom",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"

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
                "dashboard.context_processors.backend",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    # Scale-out: PostgreSQL (or any database dj-database-url understands).
    DATABASES = {"default": dj_database_url.config(conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("FLOWDASH_SQLITE_PATH", str(VAR_DIR / "flowdash.sqlite3")),
            # A file, not :memory:, so threads of the in-process engine share it in tests;
            # one per test run, so two runs side by side do not delete each other's.
            "TEST": {"NAME": str(VAR_DIR / f"test-flowdash-{os.getpid()}.sqlite3")},
            # Wait for a writer instead of failing at once (the flow bus writes in batches), and
            # take the write lock when a transaction starts: a read that later writes cannot
            # then fail with "database is locked" half way through.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

if REDIS_URL := os.environ.get("FLOWDASH_REDIS_URL"):
    # Several Daphne processes and flowwatch share frames through Redis.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis blocks in BZPOPMIN for 5 s; redis-py's default 5 s read timeout
            # would kill an idle consumer (and its browser socket), so wait longer than that.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 200,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "flow"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

#: Where the AWS APIs live (messaging.config documents each variable).
FLOWDASH_BACKEND = BackendConfig.from_env()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FLOWDASH_LOG_LEVEL", "INFO")},
    "loggers": {
        # moto logs one line per API call through werkzeug; botocore logs request details.
        "werkzeug": {"level": "ERROR"},
        "botocore": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

#: Where browsers (and, in embedded mode, SNS HTTP deliveries) reach this Flowdash.
_host, _port = os.environ.get("FLOWDASH_HOST", "127.0.0.1"), os.environ.get("FLOWDASH_PORT", "8000")
FLOWDASH_PUBLIC_URL = os.environ.get("FLOWDASH_PUBLIC_URL", f"http://{_host}:{_port}")

#: Where the flow engine runs: "inprocess" (inside Daphne, the default) or
#: "external" (``manage.py flowwatch``, for several Daphne processes).
FLOWDASH_ENGINE = os.environ.get("FLOWDASH_ENGINE", "inprocess")
#: Flow events kept in the database; older ones are pruned.
FLOWDASH_EVENT_RETENTION = int(os.environ.get("FLOWDASH_EVENT_RETENTION", 200_000))
#: Watcher intervals in seconds (messaging.watcher explains the request cost of each):
#: listings every 4.5 s find what anyone creates or deletes within 5 s. ``taps``: on
#: LocalStack and AWS each topic gets a tap queue so every publication is seen;
#: FLOWDASH_TAPS=off adds nothing to the account (for a role that may not subscribe)
#: and observes depth only. On is the default because without taps the flow misses
#: every publication no Flowdash worker receives, and the flow page says so.
FLOWDASH_WATCHER = {
    "refresh_seconds": float(os.environ.get("FLOWDASH_REFRESH_SECONDS", 4.5)),
    "depth_fast": float(os.environ.get("FLOWDASH_DEPTH_FAST_SECONDS", 0.5)),
    "depth_slow": float(os.environ.get("FLOWDASH_DEPTH_SLOW_SECONDS", 60)),
    "tap_wait_seconds": int(os.environ.get("FLOWDASH_TAP_WAIT_SECONDS", 20)),
    "taps": os.environ.get("FLOWDASH_TAPS", "on").strip().lower()
    not in ("0", "off", "false", "no"),
}
#: Publishing rates, "<messages>/<seconds>": that many at once, refilled over that time.
FLOWDASH_PUBLISH_RATE = os.environ.get("FLOWDASH_PUBLISH_RATE", "20/4")
FLOWDASH_PARTICIPANT_RATE = os.environ.get("FLOWDASH_PARTICIPANT_RATE", "20/60")
#: A viewer's socket that falls this far behind (bytes buffered, or frames) is closed
#: with 4408 so it reconnects and resyncs, instead of the server buffering for it.
FLOWDASH_SOCKET_MAX_BACKLOG_BYTES = int(
    os.environ.get("FLOWDASH_SOCKET_MAX_BACKLOG_BYTES", 1024 * 1024)
)
FLOWDASH_SOCKET_MAX_BACKLOG_FRAMES = int(os.environ.get("FLOWDASH_SOCKET_MAX_BACKLOG_FRAMES", 200))
