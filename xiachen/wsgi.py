"""The WSGI application gunicorn serves (gunicorn.conf.py), and `runserver` under `make run`."""

import logging
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiachen.settings")

application = get_wsgi_application()

if settings.XIACHEN_PLAIN_HTTP and not settings.DEBUG:
    logging.getLogger("xiachen.security").warning(
        "XIACHEN_PLAIN_HTTP is on: served over plain HTTP, so passwords and session cookies "
        "cross the network unencrypted and cookies are not marked Secure. Fine on a laptop or "
        "a closed intranet; anywhere else put the HTTPS proxy of docker-compose.yml in front "
        "and turn it off."
    )
