"""JUICE settings: everything comes from environment variables with embedded defaults.

Nothing set gives the newcomer's setup: an SQLite file under var/ and tasks run in-process.
DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Celery on Redis.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from juice.env import (
    broker_from_env,
    cache_from_env,
    database_from_env,
    env_bool,
    env_int,
    networks_from_env,
    secret_key_from_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("JUICE_DEBUG", False)
# The data folder: the default SQLite database, the kept secret key, static files and media.
DATA_DIR = Path(os.environ.get("JUICE_DATA_DIR") or BASE_DIR / "var").resolve()
SECRET_KEY = secret_key_from_env(DATA_DIR, debug=DEBUG)

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("JUICE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("JUICE_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "juice",
    "generation",
    "annotation",
]

MIDDLEWARE = [
    "juice.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "juice.middleware.ApiErrorsJsonMiddleware",
    "juice.middleware.UploadLimitMiddleware",
    "juice.middleware.NulPathMiddleware",
    "juice.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "juice.middleware.AuthenticationMiddleware",
    "juice.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "juice.urls"
WSGI_APPLICATION = "juice.wsgi.application"

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

DATABASES = {"default": database_from_env(DATA_DIR)}
# Rate limits and short-lived counts. Per process by default; JUICE_CACHE_URL=redis://... shares
# them between the web server's processes, so a rate limit holds across all of them.
CACHES = cache_from_env()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "researcher-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or DATA_DIR / "media").resolve()
MEDIA_URL = "/media/"

# Uploads: prompt sets and video archives can be large; past this size the upload is refused.
JUICE_MAX_UPLOAD_BYTES = env_int("JUICE_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
# What an upload may hold, checked before anything is decoded or written out: image pixels (a
# conditioning image), a video's width, height, frame count and length, and how much a zip may
# unpack to, at most this many times its own size (and never more than 4 times the upload limit).
JUICE_MAX_IMAGE_PIXELS = env_int("JUICE_MAX_IMAGE_PIXELS", 50_000_000, minimum=1)
JUICE_MAX_VIDEO_WIDTH = env_int("JUICE_MAX_VIDEO_WIDTH", 7680, minimum=2)
JUICE_MAX_VIDEO_HEIGHT = env_int("JUICE_MAX_VIDEO_HEIGHT", 7680, minimum=2)
JUICE_MAX_VIDEO_FRAMES = env_int("JUICE_MAX_VIDEO_FRAMES", 18_000, minimum=1)
JUICE_MAX_VIDEO_SECONDS = env_int("JUICE_MAX_VIDEO_SECONDS", 600, minimum=1)
JUICE_MAX_UNZIP_RATIO = env_int("JUICE_MAX_UNZIP_RATIO", 100, minimum=1)
# x264 threads per matching encode; 0 lets ffmpeg choose. A media worker running N encodes at
# once on C cores does best with about C / N.
JUICE_FFMPEG_THREADS = env_int("JUICE_FFMPEG_THREADS", 0)
# Production: nginx serves matched videos from an internal location with this prefix (for example
# /protected-media/ aliased to MEDIA_ROOT); Django only checks the opaque token. Empty: Django streams.
JUICE_MEDIA_ACCEL_REDIRECT = os.environ.get("JUICE_MEDIA_ACCEL_REDIRECT", "").strip()
if JUICE_MEDIA_ACCEL_REDIRECT and not (JUICE_MEDIA_ACCEL_REDIRECT.startswith("/") and JUICE_MEDIA_ACCEL_REDIRECT.endswith("/")):
    raise ImproperlyConfigured(
        f"JUICE_MEDIA_ACCEL_REDIRECT={JUICE_MEDIA_ACCEL_REDIRECT!r} must start and end with '/', e.g. /protected-media/"
    )
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

# The headers of every answer (juice/middleware.py, SecurityHeadersMiddleware; README, "Deployment").
# Scripts and styles come only from our static files: no inline code (a page that must inline, the HTML
# report, is allowed its own by hash: juice/csp.py). Videos and images come from this site (MEDIA_URL is
# not served: every video goes through a view); data: images are the report's charts.
JUICE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "media-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    # MTurk's hand-off: the rating page posts the code to turkSubmitTo (www. or workersandbox.mturk.com),
    # and a browser checks the redirects that follow a form's post too.
    "form-action": ["'self'", "https://*.mturk.com"],
}
# No page uses a camera, microphone, location, sensor or payment; the rating page's videos go full screen.
JUICE_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), autoplay=(self), fullscreen=(self)"
)
# Sent by Django's SecurityMiddleware: no address of ours reaches another site (a join link holds a
# worker id), and no answer is read as another type than it says.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "juice.errors.csrf_failure"  # JSON on the APIs
CSRF_COOKIE_HTTPONLY = False  # the rating page's script reads it for the X-CSRFToken header

# A site behind TLS (README, "Deployment"): the proxy terminates HTTPS and says so in
# X-Forwarded-Proto; cookies travel only over HTTPS, plain HTTP is redirected, and browsers are told
# to come back over HTTPS only (HSTS). Including subdomains and asking for preloading are the
# operator's choice: preloading is hard to undo, so both stay off unless asked for.
JUICE_HTTPS = env_bool("JUICE_HTTPS", False)
if JUICE_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("JUICE_HSTS_SECONDS", 365 * 24 * 3600, minimum=1)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("JUICE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("JUICE_HSTS_PRELOAD", False)
# Proxies (addresses or networks) whose X-Forwarded-For names the client: rate limits count per
# client, not per proxy. A request from any other address is its own client.
JUICE_TRUSTED_PROXIES = networks_from_env("JUICE_TRUSTED_PROXIES")

# Celery: without a broker, tasks run in-process (eagerly) so the demo needs nothing else.
CELERY_BROKER_URL = broker_from_env()
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Longest job we expect (a large video model on one GPU); the visibility timeout must exceed it,
# or Redis hands an unacknowledged job to a second worker while the first is still busy.
CELERY_TASK_TIME_LIMIT = env_int("JUICE_TASK_TIME_LIMIT", 2 * 3600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 1800}
CELERY_TASK_DEFAULT_QUEUE = "media"
CELERY_TASK_ROUTES = {
    "generation.tasks.generate_*": {"queue": "gpu"},
    "generation.tasks.*": {"queue": "media"},
    "annotation.tasks.*": {"queue": "media"},
    "juice.background.*": {"queue": "media"},
}
# Background work (juice/background.py): how long a run holds its key before a run cut short (a
# killed worker) counts as gone, and how long a request may wait untaken before its message counts
# as lost and is sent again. A study's report is computed this long after the vote that outdated it
# (later votes join the same computation), and kept under JUICE_REPORTS_DIR.
JUICE_BACKGROUND_LEASE_SECONDS = env_int("JUICE_BACKGROUND_LEASE_SECONDS", 900, minimum=1)
JUICE_BACKGROUND_LOST_SECONDS = env_int("JUICE_BACKGROUND_LOST_SECONDS", 120, minimum=1)
JUICE_REPORT_DEBOUNCE_SECONDS = env_int("JUICE_REPORT_DEBOUNCE_SECONDS", 2, minimum=0)
JUICE_REPORTS_DIR = Path(os.environ.get("JUICE_REPORTS_DIR") or DATA_DIR / "reports").resolve()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("JUICE_LOG_LEVEL", "WARNING")},
    # Tasks run in-process without a broker, and kombu warns on each that no broker host was given.
    "loggers": {"kombu.connection": {"level": "ERROR"}} if CELERY_BROKER_URL is None else {},
}

# Annotators: rate limits per client address (join) and per rater (vote), per minute. A person
# watches two videos before each vote, so 30 votes a minute is far above honest use; the load
# benchmark raises them through the environment.
JUICE_RATE_JOIN_PER_MINUTE = env_int("JUICE_RATE_JOIN_PER_MINUTE", 30, minimum=1)
JUICE_RATE_VOTE_PER_MINUTE = env_int("JUICE_RATE_VOTE_PER_MINUTE", 30, minimum=1)
# Generation (generation/jobs/worker.py, reconcile.py): loaded pipelines a GPU worker keeps, how often a running job
# proves its worker alive, when a silent one counts as lost and is re-queued, the delay of a retry.
JUICE_PIPELINE_CACHE = env_int("JUICE_PIPELINE_CACHE", 2, minimum=1)
JUICE_HEARTBEAT_SECONDS = env_int("JUICE_HEARTBEAT_SECONDS", 30, minimum=1)
# How often the worker writes a running job's step ("step n of N") for the generation page.
JUICE_PROGRESS_SECONDS = env_int("JUICE_PROGRESS_SECONDS", 1, minimum=1)
JUICE_STALE_SECONDS = env_int("JUICE_STALE_SECONDS", 300, minimum=2)
JUICE_RETRY_DELAY_SECONDS = env_int("JUICE_RETRY_DELAY_SECONDS", 30, minimum=0)
# A job or an encode queued this long that no worker started, with nothing left waiting in its
# queue, lost its message (a broker restart): the reconcilers that beat runs send it again.
JUICE_LOST_SECONDS = env_int("JUICE_LOST_SECONDS", 300, minimum=1)
if JUICE_STALE_SECONDS <= 2 * JUICE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("JUICE_STALE_SECONDS must be more than twice JUICE_HEARTBEAT_SECONDS")
# `celery -A juice beat`: expired leases are also returned lazily on every claim, the sweep keeps
# counts honest for the progress page when nobody is rating; studies whose encodes are all done open
# (each encode also opens them as it finishes); lost generation jobs are re-queued.
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "annotation.tasks.leases_expire", "schedule": 60.0},
    "open-matched-studies": {"task": "annotation.tasks.studies_refresh", "schedule": 60.0},
    "requeue-stale-generation-jobs": {"task": "generation.tasks.requeue_stale_jobs", "schedule": 60.0},
    "resend-lost-background-work": {"task": "juice.background.background_resend", "schedule": 60.0},
}
