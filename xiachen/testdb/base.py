"""Django's PostgreSQL backend, with a flush that deletes rather than truncates.

A transactional test (a live server, a Celery worker, a browser) ends by flushing the database.
Django's flush on PostgreSQL is one TRUNCATE of every table, and TRUNCATE gives each table,
index and TOAST table a new file and drops the old one's pages from shared buffers, one scan of
the buffers per file: about 2.4–5 s for this project's 78 tables on the CI machine, every time,
however few rows the test left. DELETE of the same few rows takes 0.14–0.19 s. Django's
flush runs the statements in one transaction and its foreign keys are DEFERRABLE INITIALLY
DEFERRED, so the order of the tables does not matter; the project's triggers on DELETE only
update or delete the agency-activity pairs, themselves emptied in the same transaction.

Used by the test settings only: production keeps Django's backend as it is.
"""

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return [
            f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')} "
            f"{style.SQL_FIELD(self.quote_name(table))};"
            for table in tables
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
