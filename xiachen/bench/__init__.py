"""`make bench`: Xiachen measured at city size against its targets (issue 8).

The pieces: `pages` walks every page of every demo account and counts its queries and its time,
`scopes` and `figures` time each `visible_to` scope and each dashboard figure beside a
hand-written SQL reference of the same rows, `sweep` times the reminder sweep beat runs every
minute, `load` drives gunicorn with locust (`locustfile`), `report` prints the lines and writes
docs/benchmarks.md. `manage.py bench` runs them all.
"""
