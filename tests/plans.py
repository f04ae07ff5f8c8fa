"""PostgreSQL's plan for a query, read so that it shows what an index makes possible.

A test's few rows do not stand for city size, and the statistics PostgreSQL plans with are not
the test's own: ANALYZE and VACUUM write a table's pages and rows into pg_class in place, so a
rolled-back test leaves its counts behind, and its rows leave pages, in the table and in every
index, until a flush or a vacuum. The same query can then be planned otherwise after one test
than after another (one process under pytest-xdist runs some files, another the rest).

So the plan is read with the ways around an index priced out (`SET LOCAL`, this transaction
only): never a sequential scan; with `bitmaps=False` no bitmap scan either, so that a table
read by an index shows it as an index scan; with `nested_loops=False` the rows are joined as
sets (hash or merge), as at city size, not looked up one by one as a few rows make cheapest.
A plan that still scans the table, or sorts, has no index to go by.
"""

from django.db import connection


def plan_of(sql: str, params=(), *, nested_loops: bool = True, bitmaps: bool = True) -> str:
    """EXPLAIN of `sql` in the current transaction (a test's, or `transaction.atomic()` in a
    transactional test: SET LOCAL is lost outside one)."""
    assert connection.in_atomic_block, "SET LOCAL needs a transaction"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"SET LOCAL enable_bitmapscan = {'on' if bitmaps else 'off'}")
        cursor.execute(f"SET LOCAL enable_nestloop = {'on' if nested_loops else 'off'}")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())
