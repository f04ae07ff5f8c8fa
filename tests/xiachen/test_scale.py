"""The city's tables are left as a live database keeps them, so the bench measures the plans a
city would get."""

import pytest
from django.db import connection, connections, transaction

from communities.models import Street
from xiachen.scale import settle

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_connection(db, django_db_blocker):
    """A second connection to the test database, outside the test's transaction (VACUUM cannot
    run in one), with a table of its own that it drops after."""
    with django_db_blocker.unblock():
        other = connections.create_connection("default")
        with other.cursor() as cursor:
            cursor.execute("CREATE TABLE scale_settle_probe (id integer, name text)")
            cursor.execute(
                "INSERT INTO scale_settle_probe"
                " SELECT n, 'row ' || n FROM generate_series(1, 2000) n"
            )
        yield other
        with other.cursor() as cursor:
            cursor.execute("DROP TABLE scale_settle_probe")
        other.close()


def pages_all_visible(using, table: str) -> int:
    with using.cursor() as cursor:
        cursor.execute("SELECT relallvisible FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_the_seeded_tables_are_vacuumed_so_an_index_alone_can_answer(own_connection):
    # Loaded by COPY and only analysed, a table has no visibility map: every index-only scan
    # would read the table as well, and the planner prices it so.
    assert pages_all_visible(own_connection, "scale_settle_probe") == 0
    assert settle(["scale_settle_probe"], using=own_connection) == "VACUUM ANALYZE"
    assert pages_all_visible(own_connection, "scale_settle_probe") > 0


def test_inside_a_transaction_the_seed_still_analyses(db):
    # VACUUM cannot run in a transaction (a seed inside one, as in the tests): ANALYZE alone.
    Street.objects.create(name="西陵街道")
    with transaction.atomic():
        assert settle([Street._meta.db_table]) == "ANALYZE"
    assert connection.in_atomic_block
