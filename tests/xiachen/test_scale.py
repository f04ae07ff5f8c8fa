"""The city's tables are left as a live database keeps them, so the bench measures the plans a
city would get."""

import pytest
from django.db import connection, transaction

from communities.models import Street
from xiachen.scale import settle

pytestmark = pytest.mark.postgres


def pages_all_visible(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relallvisible FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_the_seeded_tables_are_vacuumed_so_an_index_alone_can_answer(transactional_db):
    # Loaded by COPY and only analysed, a table has no visibility map: every index-only scan
    # would read the table as well, and the planner prices it so.
    Street.objects.bulk_create(Street(name=f"街道{number}") for number in range(500))
    table = Street._meta.db_table
    assert pages_all_visible(table) == 0
    assert settle([table]) == "VACUUM ANALYZE"
    assert pages_all_visible(table) > 0


def test_inside_a_transaction_the_seed_still_analyses(db):
    # VACUUM cannot run in a transaction (a seed inside one, as in the tests): ANALYZE alone.
    Street.objects.create(name="西陵街道")
    with transaction.atomic():
        assert settle([Street._meta.db_table]) == "ANALYZE"
