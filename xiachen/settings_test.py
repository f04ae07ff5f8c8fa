"""Test settings: the production settings with only what tests need changed."""

import os
import tempfile

from .settings import *  # noqa: F403
from .settings import filesystem_broker_options

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = tempfile.mkdtemp(prefix="xiachen-test-media-")
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# WhiteNoise looks for collected files; tests serve from the finders instead.
STATIC_ROOT = tempfile.mkdtemp(prefix="xiachen-test-static-")
WHITENOISE_USE_FINDERS = True

# Tests publish to a broker folder of their own, never to the one `make run` consumes. The
# environment variable carries it to the workers that tests start with these settings.
# Under pytest-xdist each test process (gw0, gw1, …) has a folder of its own: the processes
# inherit the environment of the one that started them.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    CELERY_DATA_DIR = os.environ.setdefault(
        "XIACHEN_TEST_CELERY_DIR" + (f"_{_worker.upper()}" if _worker else ""),
        tempfile.mkdtemp(prefix="xiachen-test-celery-"),
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_DATA_DIR)

# On Redis, the keys of this test process (its queues, and the messages workers hold
# unacknowledged) carry a prefix of its own: a worker that a test starts with a short
# visibility timeout hands back every unacknowledged message older than that in its Redis
# database, so without it the test processes of one run (pytest-xdist) or of two runs sharing
# the database would deliver each other's running tasks again. The workers that tests start
# take it from the environment (tests/notifications/test_delivery.py).
if CELERY_BROKER_URL.startswith("redis://"):  # noqa: F405
    TEST_REDIS_KEY_PREFIX = os.environ.setdefault(
        "XIACHEN_TEST_REDIS_KEY_PREFIX", f"xiachen-test-{os.getpid()}:"
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "global_keyprefix": TEST_REDIS_KEY_PREFIX,
    }

# No quiet hours, so that no test depends on the hour the suite runs at; the tests of quiet
# hours set them explicitly.
QUIET_HOURS = [0, 0]

# Tests that start a real worker share the test database with it: on SQLite that takes a file
# (the default test database lives in the test process's memory), in memory still where the
# machine has a memory file system.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _in_memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    _folder = tempfile.mkdtemp(prefix="xiachen-test-db-", dir=_in_memory)
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_folder, "test.sqlite3")}  # noqa: F405
