"""A door-to-door unit keeps its member's agency and its activity's start, kept by triggers, so
that an agency's households over a period are read from one index.

The query it serves: "an agency's households over a period" (the agency office's yearly
summary, reports.evidence.agency_totals). At city size the summary joined the 144,000 units to
the agency's members and the year's activities and read all of them (13–23 ms of a 50 ms page);
三峡's 3,000 units of a year are now one range of `doortodoorunit_agency_period` (0.5 ms).

A unit written, or moved to another member or activity, takes the member's agency and the
activity's start; a member moving agency takes their units along, an activity moved in time its
units. Nothing in Python writes the two columns.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL = [
    # Every write of a unit: Django's save() writes every column, and the two are recomputed
    # from the member and the activity whatever it wrote.
    """
    CREATE FUNCTION activities_doortodoorunit_kept() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.agency_id := (SELECT m.agency_id FROM members_member m WHERE m.id = NEW.member_id);
        NEW.starts_at := (SELECT t.starts_at FROM activities_activity t
                          WHERE t.id = NEW.activity_id);
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER activities_doortodoorunit_kept
    BEFORE INSERT OR UPDATE ON activities_doortodoorunit
    FOR EACH ROW EXECUTE FUNCTION activities_doortodoorunit_kept()
    """,
    """
    CREATE FUNCTION activities_doortodoorunit_member() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_doortodoorunit SET agency_id = NEW.agency_id WHERE member_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_doortodoorunit_member
    AFTER UPDATE OF agency_id ON members_member
    FOR EACH ROW WHEN (OLD.agency_id IS DISTINCT FROM NEW.agency_id)
    EXECUTE FUNCTION activities_doortodoorunit_member()
    """,
    """
    CREATE FUNCTION activities_doortodoorunit_activity() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_doortodoorunit SET starts_at = NEW.starts_at WHERE activity_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_doortodoorunit_activity
    AFTER UPDATE OF starts_at ON activities_activity
    FOR EACH ROW WHEN (OLD.starts_at IS DISTINCT FROM NEW.starts_at)
    EXECUTE FUNCTION activities_doortodoorunit_activity()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER activities_doortodoorunit_activity ON activities_activity",
    "DROP TRIGGER activities_doortodoorunit_member ON members_member",
    "DROP TRIGGER activities_doortodoorunit_kept ON activities_doortodoorunit",
    "DROP FUNCTION activities_doortodoorunit_activity()",
    "DROP FUNCTION activities_doortodoorunit_member()",
    "DROP FUNCTION activities_doortodoorunit_kept()",
]

# SQLite's triggers cannot change the row being written: the unit is updated after it, when
# its two columns are not its member's and activity's (which also ends the update's own
# trigger, should recursive triggers be on).
_SQLITE_KEEP = """
    UPDATE activities_doortodoorunit SET
        agency_id = (SELECT agency_id FROM members_member WHERE id = NEW.member_id),
        starts_at = (SELECT starts_at FROM activities_activity WHERE id = NEW.activity_id)
    WHERE id = NEW.id;
"""
_SQLITE_STALE = """
    NEW.agency_id IS NOT (SELECT agency_id FROM members_member WHERE id = NEW.member_id)
    OR NEW.starts_at IS NOT (SELECT starts_at FROM activities_activity WHERE id = NEW.activity_id)
"""
SQLITE = [
    f"""
    CREATE TRIGGER activities_doortodoorunit_kept_in
    AFTER INSERT ON activities_doortodoorunit FOR EACH ROW
    WHEN {_SQLITE_STALE}
    BEGIN {_SQLITE_KEEP} END
    """,
    f"""
    CREATE TRIGGER activities_doortodoorunit_kept_changed
    AFTER UPDATE ON activities_doortodoorunit FOR EACH ROW
    WHEN {_SQLITE_STALE}
    BEGIN {_SQLITE_KEEP} END
    """,
    """
    CREATE TRIGGER activities_doortodoorunit_member
    AFTER UPDATE OF agency_id ON members_member FOR EACH ROW
    WHEN OLD.agency_id IS NOT NEW.agency_id
    BEGIN
        UPDATE activities_doortodoorunit SET agency_id = NEW.agency_id WHERE member_id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER activities_doortodoorunit_activity
    AFTER UPDATE OF starts_at ON activities_activity FOR EACH ROW
    WHEN OLD.starts_at IS NOT NEW.starts_at
    BEGIN
        UPDATE activities_doortodoorunit SET starts_at = NEW.starts_at WHERE activity_id = NEW.id;
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER activities_doortodoorunit_activity",
    "DROP TRIGGER activities_doortodoorunit_member",
    "DROP TRIGGER activities_doortodoorunit_kept_changed",
    "DROP TRIGGER activities_doortodoorunit_kept_in",
]

# Taken after the triggers: on PostgreSQL creating them locks the tables against writes until
# this migration commits, so none is missed between the two. (activities.models.doors.REBUILD
# is the same statement; a migration keeps its own.)
BACKFILL = """
    UPDATE activities_doortodoorunit SET
        agency_id = (SELECT m.agency_id FROM members_member m
                     WHERE m.id = activities_doortodoorunit.member_id),
        starts_at = (SELECT t.starts_at FROM activities_activity t
                     WHERE t.id = activities_doortodoorunit.activity_id)
"""


def _run(schema_editor, statements):
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"door units' agency and start have triggers for PostgreSQL and SQLite only, not {vendor}")
    _run(schema_editor, (POSTGRESQL if vendor == "postgresql" else SQLITE) + [BACKFILL])


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):

    dependencies = [
        ("activities", "0030_participation_activity_statistics"),
        ("communities", "0004_city_seed"),
        ("members", "0010_registration_liaison_active_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="doortodoorunit",
            name="agency",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="communities.agency",
                verbose_name="agency",
            ),
        ),
        migrations.AddField(
            model_name="doortodoorunit",
            name="starts_at",
            field=models.DateTimeField(editable=False, null=True, verbose_name="starts at"),
        ),
        migrations.RunPython(install, uninstall),
        migrations.AddIndex(
            model_name="doortodoorunit",
            index=models.Index(
                fields=["agency", "starts_at"],
                include=("households", "households_reached"),
                name="doortodoorunit_agency_period",
            ),
        ),
    ]
