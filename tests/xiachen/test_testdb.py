"""The tests' PostgreSQL backend (xiachen/testdb): a transactional test's flush empties every
table with DELETE, in one transaction, the rows the project's triggers keep included."""

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import AgencyActivity, Participation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_flush_deletes_rather_than_truncates():
    tables = ["activities_participation", "members_member"]
    statements = connection.ops.sql_flush(no_style(), tables)
    assert statements == [f'DELETE FROM "{table}";' for table in tables]
    # Sequences reset: Django's TRUNCATE … RESTART IDENTITY, as before.
    assert connection.ops.sql_flush(no_style(), tables, reset_sequences=True)[0].startswith(
        "TRUNCATE"
    )


def test_a_flush_leaves_every_table_empty(world):
    assert Participation.objects.exists() and AgencyActivity.objects.exists()
    # As a transactional test's teardown calls it (TransactionTestCase._fixture_teardown).
    with CaptureQueriesContext(connection) as queries:
        call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
    assert not any("TRUNCATE" in query["sql"] for query in queries)
    tables = connection.introspection.django_table_names(only_existing=True)
    with connection.cursor() as cursor:
        left = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            left[table] = cursor.fetchone()[0]
    # What flush gives back at once (post_migrate): the content types, the permissions, the
    # activity types (tests/conftest.py) and the beat's schedule; nothing of the test's.
    kept = {table for table, count in left.items() if count}
    assert kept <= {
        "django_content_type",
        "auth_permission",
        "activities_activitytype",
        "django_celery_beat_periodictask",
        "django_celery_beat_crontabschedule",
        "django_celery_beat_intervalschedule",
        "django_celery_beat_periodictasks",
        "django_site",
    }, kept
    assert not Participation.objects.exists() and not AgencyActivity.objects.exists()
