"""Test settings: the production settings with only what tests need changed."""

import tempfile

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = tempfile.mkdtemp(prefix="xiachen-test-media-")
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# WhiteNoise looks for collected files; tests serve from the finders instead.
STATIC_ROOT = tempfile.mkdtemp(prefix="xiachen-test-static-")
WHITENOISE_USE_FINDERS = True
