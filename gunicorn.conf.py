"""gunicorn's configuration: the one place that says how a web node serves Xiachen.

The Dockerfile and docker-compose.yml start `gunicorn --config gunicorn.conf.py`; each value can
be changed from the environment (README, "Production"). Only the reverse proxy talks to
gunicorn: it terminates HTTPS and says so in X-Forwarded-Proto, which gunicorn believes only
from FORWARDED_ALLOW_IPS.
"""

import multiprocessing
import os

from gunicorn.glogging import Logger

from xiachen.logs import ContextFilter, JsonFormatter

wsgi_app = "xiachen.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Processes × threads is the number of requests one web node serves at once, and also the
# number of PostgreSQL connections it may hold (CONN_MAX_AGE keeps one per thread): the README's
# connection budget multiplies it by the web replicas. Without a setting, a process a core plus
# one, at most 5, so that a big machine does not quietly exhaust max_connections. Rendering a
# page is Python's work, one core a process at a time: on 2 cores the bench's load run spent
# about a fifth less CPU a request with 3 processes than with 5 (more processes than cores only
# take turns on them, each with its own caches and PostgreSQL connections), as
# docker-compose.yml's 3 has it.
workers = int(os.environ.get("GUNICORN_WORKERS") or min(multiprocessing.cpu_count() + 1, 5))
# Threads let a process wait on the database or the broker for one request while serving
# another; the pages are short, so a few are enough.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"

# A request taking longer than this is stuck: its process is restarted. The pages answer in
# well under a second; an agreement scan download stays far below it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (a deploy, `docker compose up` replacing a container) requests under way get
# this long to finish; docker-compose.yml gives the container longer before it kills it.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
# The proxy keeps connections to the web nodes open between requests.
keepalive = 5
# Each process is replaced after about this many requests, at staggered moments (jitter), so
# that a slow leak never grows and the processes of a node never restart together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10

# The addresses (or networks) of the reverse proxy. Only requests from there may say, in
# X-Forwarded-Proto, that they came over HTTPS; from anywhere else the header is ignored, so
# the secure cookies and the redirect to HTTPS cannot be fooled by a client that reaches a web
# node directly.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# preload_app stays off: each process imports Django itself after the fork. Nothing opened
# while importing (a database connection, the broker's socket) is then shared between
# processes, and processes replaced by max_requests or `kill -HUP` load the code that is on
# disk. The price is a few seconds' start and some memory per process, small beside the above.
preload_app = False

# No control socket (`gunicornc`): it would live in the home folder, shared by every gunicorn
# of a machine; restarts go through the container.
control_socket_disable = True

# Logs: standard error, in the app's format (LOG_FORMAT, see xiachen/logs.py), the access log
# included, so that a collector reads one kind of line from every container.
errorlog = "-"
accesslog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()


class ProjectLogger(Logger):
    """gunicorn's logs in the project's format: with LOG_FORMAT=json (the default with DEBUG
    off) every line is a JSON object, and each access line carries the request id that the app
    put on the response, beside method, path, status, duration and size."""

    def setup(self, cfg):
        super().setup(cfg)
        if log_format() == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())
                    handler.addFilter(ContextFilter())

    def access(self, resp, req, environ, request_time):
        if log_format() != "json":
            return super().access(resp, req, environ, request_time)
        headers = dict((name.lower(), value) for name, value in resp.headers)
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING", ""),
            "status": resp.status_code,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": headers.get("x-request-id", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        self.access_log.info(
            "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
        )


def log_format():
    """LOG_FORMAT as xiachen/settings.py reads it (the master process does not load Django)."""
    debug = os.environ.get("DEBUG", "true").lower() in ("1", "true", "yes", "on")
    return os.environ.get("LOG_FORMAT") or ("text" if debug else "json")


logger_class = ProjectLogger
# The text format (LOG_FORMAT=text) is gunicorn's own, with the request id added.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s "%(a)s"'
