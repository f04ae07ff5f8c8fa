"""The settings the bench runs with: production's (DEBUG off, collected and hashed static
files), with a secret key of its own and nothing that could reach the outside world.

DEBUG and the static storage are decided when xiachen.settings is read, so the environment is
set first; the database comes from DATABASE_URL, which `make bench` points at the city.
"""

import os

os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "xiachen-bench-only-key-never-served-beyond-loopback")
# Nothing the bench does may reach a broker: every sweep it runs is rolled back, and this
# broker lives in memory only should a task be published all the same.
os.environ["CELERY_BROKER_URL"] = "memory://"
# Gunicorn serves plain HTTP on 127.0.0.1: the documented plain-intranet setting (no redirect
# to HTTPS, cookies that travel over HTTP).
os.environ["XIACHEN_PLAIN_HTTP"] = "true"
os.environ.setdefault("STATIC_ROOT", os.path.join(os.getcwd(), "var", "bench", "static"))

from xiachen.settings import *  # noqa: E402, F403

# The test client's host, beside the loopback names gunicorn answers to.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # The walk opens every page as every account: the 403s and 404s it meets are expected, and
    # a page that fails (or is cancelled by the walk's statement timeout) is its failed line.
    "loggers": {"django.request": {"level": "CRITICAL"}},
}
