"""Settings for Xiachen, read from the environment.

Every value has a safe laptop default so that `make run` needs nothing set; the README has a
table of every variable. Production sets DEBUG=false and must then give SECRET_KEY.
"""

from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

# A fixed key is fine on a laptop; with DEBUG off the app refuses to start without one.
_DEV_SECRET_KEY = "xiachen-insecure-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` "
            "and put it in the environment as SECRET_KEY."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Django's admin behind the second factor (members.two_factor.SecondFactorAdminSite).
    "xiachen.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "django_celery_beat",
    "csp",
    # Second factors (issue 11): authenticator apps (TOTP) and recovery codes (static tokens).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "xiachen.apps.AxesConfig",  # django-axes, with a translated name
    "xiachen",
    "communities",
    "notifications",
    "members",
    "activities",
    "reports",
]

MIDDLEWARE = [
    # First: every log line of a request, and its response, carry the request's id.
    "xiachen.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content Security Policy and the other headers of xiachen.security (below).
    "csp.middleware.CSPMiddleware",
    "xiachen.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "xiachen.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, the login read with the session in one statement (members/sessions.py).
    "xiachen.middleware.AuthenticationMiddleware",
    # The session's verified second factor (django-otp's OTPMiddleware, its query written once).
    "members.two_factor.DeviceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs out idle and too old sessions (members/sessions.py); after auth and messages.
    "members.sessions.SessionPolicyMiddleware",
    # A login that needs a second factor and has not passed it reaches only the code page or
    # enrolment (members/two_factor.py); after the timeouts, which sign out first.
    "members.two_factor.SecondFactorMiddleware",
    # After the second factor: a signed-in person accepts the privacy notice before any page.
    "members.privacy.PrivacyNoticeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Repeated wrong passwords lock that username from that address for a while (django-axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # A member may type their mobile instead of their username (issue 10).
    "members.auth.MobileBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# Username and address together: offices share one address behind their gateway, so locking
# the address alone would lock out a whole agency.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A mobile typed at the sign-in counts against the login it belongs to.
AXES_USERNAME_CALLABLE = "members.auth.lockout_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Admin history is to read: records change through their services, never by reverting to an
# old version (communities.admin.history.ReadOnlyHistoryAdmin refuses what this switch only hides).
SIMPLE_HISTORY_REVERT_DISABLED = True

ROOT_URLCONF = "xiachen.urls"
WSGI_APPLICATION = "xiachen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {% url %} of a page by its id, its address found once per process.
            "builtins": ["xiachen.templatetags.links"],
        },
    },
]

# Form widgets render with the templates above (Django's own found through django.forms, unless
# templates/django/forms/ overrides one); a select is written in Python (xiachen/renderers.py:
# a template loop over hundreds of options was most of a filter bar's cost).
FORM_RENDERER = "xiachen.renderers.FormRenderer"

# Checks silenced, each for its reason where it is added.
SILENCED_SYSTEM_CHECKS = []

# Database: SQLite in the project folder by default, PostgreSQL in production.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL, a busy timeout and IMMEDIATE transactions let the web app and the worker write at
    # once without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A covering index's INCLUDE columns are PostgreSQL's (the office's review list reads them
    # from the index alone at city size); SQLite builds the index on its key, all it needs.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost; at city
        # size the planner over-estimates the activity list and spends about a second
        # compiling what then runs in milliseconds. Our queries are short and index-driven, so
        # JIT is off on the app's connections; DATABASE_JIT=true gives it back.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        if not env.bool("DATABASE_JIT", default=False):
            options["options"] = f"{options.get('options', '')} -c jit=off".strip()
        # A page's queries are short: PostgreSQL's parallel workers (a process started for
        # each query that uses one) cost more CPU than they save, and on a busy server they
        # take it from the other requests. The office dashboard's overdue-review count took
        # two workers for 19 ms. DATABASE_PARALLEL_WORKERS sets max_parallel_workers_per_gather.
        parallel = env.int("DATABASE_PARALLEL_WORKERS", default=0)
        options["options"] = (
            f"{options.get('options', '')} -c max_parallel_workers_per_gather={parallel}"
        ).strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"

# Sessions (members/sessions.py): in the database, in a table that names each one's login and
# device. Signed out after this long without a page (minutes), by role class: offices (city
# administrators, street officers, agency offices, community staff), grid workers (a phone in
# the field through a long activity), members (their own phone); and after this long in all
# (hours), staff and members.
SESSION_ENGINE = "members.sessions"
SESSION_IDLE_MINUTES_OFFICE = env.int("SESSION_IDLE_MINUTES_OFFICE", default=30)
SESSION_IDLE_MINUTES_GRID_WORKER = env.int("SESSION_IDLE_MINUTES_GRID_WORKER", default=4 * 60)
SESSION_IDLE_MINUTES_MEMBER = env.int("SESSION_IDLE_MINUTES_MEMBER", default=7 * 24 * 60)
SESSION_LIFETIME_HOURS_STAFF = env.int("SESSION_LIFETIME_HOURS_STAFF", default=12)
SESSION_LIFETIME_HOURS_MEMBER = env.int("SESSION_LIFETIME_HOURS_MEMBER", default=30 * 24)
if (
    min(
        SESSION_IDLE_MINUTES_OFFICE,
        SESSION_IDLE_MINUTES_GRID_WORKER,
        SESSION_IDLE_MINUTES_MEMBER,
        SESSION_LIFETIME_HOURS_STAFF,
        SESSION_LIFETIME_HOURS_MEMBER,
    )
    < 1
):
    raise ImproperlyConfigured(
        "SESSION_IDLE_MINUTES_* and SESSION_LIFETIME_HOURS_* must be 1 or more."
    )
# The cookie (and the stored session) outlive the longest sign-in; the rules above end it.
SESSION_COOKIE_AGE = max(SESSION_LIFETIME_HOURS_STAFF, SESSION_LIFETIME_HOURS_MEMBER) * 3600
# A forgotten password's link works once, for this long (seconds; a day by default).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=24 * 60 * 60)
LOGIN_REDIRECT_URL = "reports:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Chinese first, English selectable.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploaded files (signed agreement scans) are private: they are served only through views
# that check the viewer's scope, never from a public URL. On a laptop they live in MEDIA_ROOT;
# with several web replicas (docker-compose.yml) in an S3-compatible bucket (MinIO on an
# intranet), so that no upload lives on one machine. The bucket stays private: the views
# stream the file from it.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            # MinIO and most intranet stores want the bucket in the path, not the host name.
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="path"),
            "location": env.str("AWS_LOCATION", default="media"),
            "default_acl": None,  # the bucket's own policy: private
            "file_overwrite": False,
            "signature_version": "s3v4",
        },
    }
AGREEMENT_SCAN_MAX_BYTES = env.int("AGREEMENT_SCAN_MAX_BYTES", default=10 * 1024 * 1024)
# A roster imported from a spreadsheet (members/imports.py): the file, and the members in it.
ROSTER_IMPORT_MAX_BYTES = env.int("ROSTER_IMPORT_MAX_BYTES", default=2 * 1024 * 1024)
ROSTER_IMPORT_MAX_ROWS = env.int("ROSTER_IMPORT_MAX_ROWS", default=2000)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# E-mail: printed to the console on a laptop, SMTP in production.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="下沉社区 <noreply@xiachen.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: a file-system broker that needs no server on a laptop, Redis in production.


def filesystem_broker_options(data_dir) -> dict:
    """Transport options of the file-system broker in `data_dir`, whose folders the transport
    expects to exist on both sides (publisher and worker)."""
    data_dir = Path(data_dir)
    for folder in ("broker", "control", "processed"):
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(data_dir / "broker"),
        "data_folder_out": str(data_dir / "broker"),
        "processed_folder": str(data_dir / "processed"),
        "control_folder": str(data_dir / "control"),
        "store_processed": False,
    }


CELERY_DATA_DIR = env.path("CELERY_DATA_DIR", default=VAR_DIR / "celery")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")

# The cache holds what the doors without a sign-in count (communities/throttle.py). Each laptop
# process has its own; with several gunicorn processes or web replicas every one of them would
# allow the full number of tries, so production shares Redis: CACHE_URL=redis://redis:6379/1
# (docker-compose.yml). Nothing else is cached: losing the cache loses only counts.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_DATA_DIR)
else:
    # A message not acknowledged within this many seconds is delivered again; every task's time
    # limit and retry backoff stay below it (checked below), so that a task still running or
    # waiting to retry is never handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The sweep and other tasks; the delivery tasks have limits of their own (below).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT * 0.8
# Each channel delivers on a queue of its own: a group robot that is slow or down holds only
# the robots' worker, never e-mail, the inbox or the sweep. `make run` and docker-compose.yml
# run a worker for the robots beside the one for everything else.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "notifications.deliver_email": {"queue": "mail"},
    "notifications.deliver_robot": {"queue": "robots"},
    "notifications.deliver_sms": {"queue": "sms"},
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "xiachen.beat:Scheduler"
# Celery's own retries (a database that is briefly away): bounded, with capped backoff.
CELERY_TASK_MAX_RETRIES = 5
CELERY_TASK_RETRY_BACKOFF_MAX = env.int("CELERY_TASK_RETRY_BACKOFF_MAX", default=300)

# Logs go to standard error, one line each: JSON objects in production (LOG_FORMAT=json, the
# default with DEBUG off) for the log collector, readable text under `make run` and with DEBUG
# on. Both carry the request id (xiachen.middleware.RequestIdMiddleware) or the Celery task id.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "xiachen.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "xiachen.logs.JsonFormatter"},
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Production is served over HTTPS, by a reverse proxy in front of gunicorn (docker-compose.yml:
# Caddy). Whether a request came over HTTPS is gunicorn's to say: it believes the proxy's
# X-Forwarded-Proto only from the addresses in FORWARDED_ALLOW_IPS (gunicorn.conf.py), so Django
# reads the scheme gunicorn hands it and sets no SECURE_PROXY_SSL_HEADER of its own, which any
# client reaching a web node could forge.
# XIACHEN_PLAIN_HTTP=true is for an intranet served over plain HTTP (and `make run`): cookies
# without the Secure flag, no redirect to HTTPS, no HSTS. Passwords then cross the network
# unencrypted; xiachen.wsgi warns of it in the log at start.
XIACHEN_PLAIN_HTTP = env.bool("XIACHEN_PLAIN_HTTP", default=False)
if not DEBUG:
    _https = not XIACHEN_PLAIN_HTTP
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_https)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
    # The containers' health checks ask over plain HTTP from inside the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # HSTS is remembered by browsers for its whole lifetime: a year, subdomains included, once
    # served over HTTPS (SECURE_HSTS_SECONDS=0 turns it off); never over plain HTTP.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000) if _https else 0
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Being on the browsers' preload list is the city's choice to make (a submission that is
    # slow to undo, and only for a domain it owns whole): asked for only when set, and the
    # deploy check that recommends it silenced meanwhile.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")

# Headers of every response, on a laptop too (issue 11, point 4): no guessing of content types,
# the address of a page only to the site itself, no window of another site holding ours, and
# no page in a frame (X-Frame-Options, and frame-ancestors below).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Browser features no page uses, refused to every page and to anything it could embed
# (xiachen.security.PermissionsPolicyMiddleware). The QR check-in opens a link the phone's own
# camera read: no page scans.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}
# Content Security Policy (django-csp): scripts, styles and images from the site alone, so no
# inline <script>, no on… handler, no <style> and no style attribute in any template (scripts in
# static/js, styles in static/css); data: images for Bootstrap's icons drawn in its CSS.
# Browsers report what they refuse to VIOLATION_REPORT_PATH (xiachen.security.csp_report: logged).
VIOLATION_REPORT_PATH = "/csp-report/"
# The Reporting API's endpoint name, over HTTPS only: browsers do not send its reports to a
# plain-HTTP address, and with `report-to` present Chromium ignores `report-uri`.
VIOLATION_REPORT_ENDPOINT = "" if XIACHEN_PLAIN_HTTP else "csp"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "report-uri": [VIOLATION_REPORT_PATH],
        **({"report-to": VIOLATION_REPORT_ENDPOINT} if VIOLATION_REPORT_ENDPOINT else {}),
    },
}

# Reminders and notifications (DESIGN.md "Reminders"). Offsets in hours; weekday 0 = Monday.
REMINDER_UPCOMING_HOURS = env.list("REMINDER_UPCOMING_HOURS", cast=int, default=[24, 2])
REMINDER_ROLL_CALL_AFTER_HOURS = env.int("REMINDER_ROLL_CALL_AFTER_HOURS", default=1)
REMINDER_ROLL_CALL_WITHIN_DAYS = env.int("REMINDER_ROLL_CALL_WITHIN_DAYS", default=7)
REMINDER_WEEKLY_WEEKDAY = env.int("REMINDER_WEEKLY_WEEKDAY", default=0)
REMINDER_WEEKLY_HOUR = env.int("REMINDER_WEEKLY_HOUR", default=9)
REMINDER_DUTY_ROSTER_HOUR = env.int("REMINDER_DUTY_ROSTER_HOUR", default=17)
QUIET_HOURS = env.list("QUIET_HOURS", cast=int, default=[22, 7])  # start, end (local hours)
# Minutes an unfilled call-out (吹哨) waits before it escalates to the agency offices, and as
# long again before it escalates to the street.
CALLOUT_ESCALATE_MINUTES = env.int("CALLOUT_ESCALATE_MINUTES", default=30)
# Delivery attempts of one message before it is marked failed; the wait doubles each time.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=4)
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=60)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# Text messages (issue 12): "console" prints them (the default: a laptop sends nothing),
# "tencent" sends through Tencent Cloud SMS with keys from the environment only; members get
# them only when they choose them in their notification settings.
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
SMS_TIMEOUT = env.float("SMS_TIMEOUT", default=5.0)
SMS_SIGN_NAME = env.str("SMS_SIGN_NAME", default="下沉社区")
# What a template parameter takes: a longer subject is cut (providers limit each parameter).
SMS_PARAM_MAX_LENGTH = env.int("SMS_PARAM_MAX_LENGTH", default=20)
# The price of one billed message (yuan), for the cost the outbox shows.
SMS_PRICE_PER_PART = env.str("SMS_PRICE_PER_PART", default="0.045")
SMS_TENCENT_SECRET_ID = env.str("SMS_TENCENT_SECRET_ID", default="")
SMS_TENCENT_SECRET_KEY = env.str("SMS_TENCENT_SECRET_KEY", default="")
SMS_TENCENT_APP_ID = env.str("SMS_TENCENT_APP_ID", default="")
SMS_TENCENT_TEMPLATE_ID = env.str("SMS_TENCENT_TEMPLATE_ID", default="")
SMS_TENCENT_REGION = env.str("SMS_TENCENT_REGION", default="ap-guangzhou")
SMS_TENCENT_ENDPOINT = env.str("SMS_TENCENT_ENDPOINT", default="https://sms.tencentcloudapi.com")
# A delivery task (inbox, e-mail, one group robot) runs at most this many seconds; from its soft
# limit, a quarter earlier, it puts back what it has not tried, and it never starts a send that
# would not fit before then.
NOTIFICATION_TASK_TIME_LIMIT = env.int("NOTIFICATION_TASK_TIME_LIMIT", default=40)
NOTIFICATION_TASK_SOFT_TIME_LIMIT = NOTIFICATION_TASK_TIME_LIMIT * 0.75
# A message claimed by a worker (or handed to one) this long ago and still not sent belongs to a
# worker that died: the next sweep, every minute, hands it out again. A dead worker's messages
# therefore go out within NOTIFICATION_STALE_SECONDS + 60 s: 110 s by default (README).
NOTIFICATION_STALE_SECONDS = env.int("NOTIFICATION_STALE_SECONDS", default=50)


def _check_delivery_timings():
    """Refuses timings that do not fit together: each would let a message go out twice, or
    let a task be stopped in the middle of its work."""
    visibility = CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    rules = [
        (
            NOTIFICATION_STALE_SECONDS > NOTIFICATION_TASK_TIME_LIMIT,
            "NOTIFICATION_STALE_SECONDS must exceed NOTIFICATION_TASK_TIME_LIMIT, or a message "
            "still being sent would be handed to a second worker.",
        ),
        (
            max(EMAIL_TIMEOUT, WEBHOOK_TIMEOUT, SMS_TIMEOUT) < NOTIFICATION_TASK_SOFT_TIME_LIMIT,
            "EMAIL_TIMEOUT, WEBHOOK_TIMEOUT and SMS_TIMEOUT must be below three quarters of "
            "NOTIFICATION_TASK_TIME_LIMIT (the soft limit), or one send could outlast its task.",
        ),
    ]
    if visibility is not None:
        rules += [
            (
                CELERY_TASK_RETRY_BACKOFF_MAX < visibility,
                "CELERY_TASK_RETRY_BACKOFF_MAX must be below CELERY_VISIBILITY_TIMEOUT, or a "
                "retry waiting in a worker would be delivered a second time.",
            ),
            (
                max(CELERY_TASK_TIME_LIMIT, NOTIFICATION_TASK_TIME_LIMIT) < visibility,
                "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT and "
                "NOTIFICATION_TASK_TIME_LIMIT, or Redis would hand a task that is still running "
                "to a second worker.",
            ),
        ]
    for fits, explanation in rules:
        if not fits:
            raise ImproperlyConfigured(explanation)


_check_delivery_timings()

# The privacy notice (隐私政策) in force: templates/privacy/notice_<version>.<lang>.html. A new one
# is shown to everyone at their next page, to accept before any other (members.privacy).
PRIVACY_NOTICE_VERSION = env.str("PRIVACY_NOTICE_VERSION", default="2026-12-07")

# Figures (DESIGN.md): an active member with no attendance in this many days is inactive.
INACTIVE_AFTER_DAYS = env.int("INACTIVE_AFTER_DAYS", default=30)
# Records the agency office has not reviewed this many days after they were recorded are
# overdue: counted on its dashboard and in its weekly digest.
REVIEW_OVERDUE_DAYS = env.int("REVIEW_OVERDUE_DAYS", default=14)


# Annual evaluation (年度评价): at most this share of the members a community rates for a year
# may be rated excellent (优秀), as a fraction ("1/3") or a decimal ("0.3").
def _excellent_share(value: str) -> Fraction:
    try:
        share = Fraction(value.strip())
    except (ValueError, ZeroDivisionError):
        share = None
    if share is None or not 0 < share <= 1:
        raise ImproperlyConfigured(
            f"EVALUATION_EXCELLENT_SHARE must be a share above 0 and at most 1, such as 1/3 "
            f"or 0.3, not {value!r}."
        )
    return share


EVALUATION_EXCELLENT_SHARE = _excellent_share(env.str("EVALUATION_EXCELLENT_SHARE", default="1/3"))

# Exports (issue 9, point 5): one of more rows than this is written by a Celery worker while the
# office watches its progress; a smaller one is downloaded at once, from the same form.
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=5000)
# A file a worker wrote is deleted this many hours after it was finished (beat, every hour).
EXPORT_RETENTION_HOURS = env.int("EXPORT_RETENTION_HOURS", default=72)
# The street and city overviews read figures rebuilt this often (reports.tasks); each page says
# when they were made.
OVERVIEW_REFRESH_MINUTES = env.int("OVERVIEW_REFRESH_MINUTES", default=15)
if OVERVIEW_REFRESH_MINUTES < 1:
    raise ImproperlyConfigured("OVERVIEW_REFRESH_MINUTES must be at least 1.")

# The monthly service summary the charts read (reports.summary) is rebuilt this often (beat).
SERVICE_SUMMARY_MINUTES = env.int("SERVICE_SUMMARY_MINUTES", default=15)
