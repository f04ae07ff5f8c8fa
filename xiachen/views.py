"""The project's own pages that belong to no app."""

from django.db import DatabaseError, connection
from django.http import HttpResponse


def healthz(request):
    """For the container health check: answers once the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
