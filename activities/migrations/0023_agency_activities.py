"""activities.AgencyActivity, kept by triggers, filled from the participations there are."""

import django.db.models.deletion
from django.db import migrations, models

# One row per (agency, activity) that its members take part in, with how many participations
# are theirs. Each participation written, deleted or moved to another member or activity
# counts in or out; a member moving agency takes their participations along. The count makes
# a delete exact without looking at the other participations, and PostgreSQL's row lock on
# the pair orders two writes to it. The UPDATE and the DELETE at 0 are two statements: one
# statement does not see the rows its own WITH changed.
POSTGRESQL = [
    """
    CREATE FUNCTION activities_agencyactivity_count(of_member bigint, of_activity bigint,
                                                    delta integer) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF delta > 0 THEN
            INSERT INTO activities_agencyactivity (agency_id, activity_id, participations)
            SELECT m.agency_id, of_activity, delta FROM members_member m WHERE m.id = of_member
            ON CONFLICT (agency_id, activity_id) DO UPDATE
            SET participations = activities_agencyactivity.participations + delta;
        ELSE
            UPDATE activities_agencyactivity a SET participations = a.participations + delta
            FROM members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity;
            DELETE FROM activities_agencyactivity a USING members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity
              AND a.participations <= 0;
        END IF;
    END $$
    """,
    """
    CREATE FUNCTION activities_agencyactivity_participation() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM activities_agencyactivity_count(OLD.member_id, OLD.activity_id, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM activities_agencyactivity_count(NEW.member_id, NEW.activity_id, 1);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_agencyactivity_participation
    AFTER INSERT OR DELETE ON activities_participation
    FOR EACH ROW EXECUTE FUNCTION activities_agencyactivity_participation()
    """,
    # Django's save() writes every column: only a real move counts.
    """
    CREATE TRIGGER activities_agencyactivity_participation_moved
    AFTER UPDATE OF member_id, activity_id ON activities_participation
    FOR EACH ROW
    WHEN (OLD.member_id <> NEW.member_id OR OLD.activity_id <> NEW.activity_id)
    EXECUTE FUNCTION activities_agencyactivity_participation()
    """,
    """
    CREATE FUNCTION activities_agencyactivity_member() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity a SET participations = a.participations - 1
        FROM activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id;
        DELETE FROM activities_agencyactivity a USING activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id AND a.participations <= 0;
        INSERT INTO activities_agencyactivity (agency_id, activity_id, participations)
        SELECT NEW.agency_id, p.activity_id, 1 FROM activities_participation p
        WHERE p.member_id = NEW.id
        ON CONFLICT (agency_id, activity_id) DO UPDATE
        SET participations = activities_agencyactivity.participations + 1;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_agencyactivity_member
    AFTER UPDATE OF agency_id ON members_member
    FOR EACH ROW WHEN (OLD.agency_id <> NEW.agency_id)
    EXECUTE FUNCTION activities_agencyactivity_member()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER activities_agencyactivity_member ON members_member",
    "DROP TRIGGER activities_agencyactivity_participation_moved ON activities_participation",
    "DROP TRIGGER activities_agencyactivity_participation ON activities_participation",
    "DROP FUNCTION activities_agencyactivity_member()",
    "DROP FUNCTION activities_agencyactivity_participation()",
    "DROP FUNCTION activities_agencyactivity_count(bigint, bigint, integer)",
]

# The same rules in SQLite's triggers (no functions): a pair is made at 0 if it is not there,
# counted, and removed at 0.
_SQLITE_IN = """
    INSERT OR IGNORE INTO activities_agencyactivity (agency_id, activity_id, participations)
    SELECT m.agency_id, NEW.activity_id, 0 FROM members_member m WHERE m.id = NEW.member_id;
    UPDATE activities_agencyactivity SET participations = participations + 1
    WHERE activity_id = NEW.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = NEW.member_id);
"""
_SQLITE_OUT = """
    UPDATE activities_agencyactivity SET participations = participations - 1
    WHERE activity_id = OLD.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
    DELETE FROM activities_agencyactivity
    WHERE activity_id = OLD.activity_id AND participations <= 0
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
"""
SQLITE = [
    f"""
    CREATE TRIGGER activities_agencyactivity_participation_in
    AFTER INSERT ON activities_participation FOR EACH ROW
    BEGIN {_SQLITE_IN} END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_participation_out
    AFTER DELETE ON activities_participation FOR EACH ROW
    BEGIN {_SQLITE_OUT} END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_participation_moved
    AFTER UPDATE OF member_id, activity_id ON activities_participation FOR EACH ROW
    WHEN OLD.member_id <> NEW.member_id OR OLD.activity_id <> NEW.activity_id
    BEGIN {_SQLITE_OUT} {_SQLITE_IN} END
    """,
    """
    CREATE TRIGGER activities_agencyactivity_member
    AFTER UPDATE OF agency_id ON members_member FOR EACH ROW
    WHEN OLD.agency_id <> NEW.agency_id
    BEGIN
        UPDATE activities_agencyactivity SET participations = participations - 1
        WHERE agency_id = OLD.agency_id
          AND activity_id IN (SELECT activity_id FROM activities_participation
                              WHERE member_id = NEW.id);
        DELETE FROM activities_agencyactivity
        WHERE agency_id = OLD.agency_id AND participations <= 0;
        INSERT OR IGNORE INTO activities_agencyactivity (agency_id, activity_id, participations)
        SELECT NEW.agency_id, activity_id, 0 FROM activities_participation
        WHERE member_id = NEW.id;
        UPDATE activities_agencyactivity SET participations = participations + 1
        WHERE agency_id = NEW.agency_id
          AND activity_id IN (SELECT activity_id FROM activities_participation
                              WHERE member_id = NEW.id);
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER activities_agencyactivity_member",
    "DROP TRIGGER activities_agencyactivity_participation_moved",
    "DROP TRIGGER activities_agencyactivity_participation_out",
    "DROP TRIGGER activities_agencyactivity_participation_in",
]

# Taken after the triggers: on PostgreSQL creating them locks the participations against
# writes until this migration commits, so none is missed between the two.
BACKFILL = """
    INSERT INTO activities_agencyactivity (agency_id, activity_id, participations)
    SELECT m.agency_id, p.activity_id, COUNT(*)
    FROM activities_participation p JOIN members_member m ON m.id = p.member_id
    GROUP BY m.agency_id, p.activity_id
"""


def _run(schema_editor, statements):
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"activities.AgencyActivity has triggers for PostgreSQL and SQLite only, not {vendor}")
    _run(schema_editor, (POSTGRESQL if vendor == "postgresql" else SQLITE) + [BACKFILL])


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):

    dependencies = [
        ("activities", "0022_resident_needs"),
        ("communities", "0004_city_seed"),
        ("members", "0008_privacy_notice_view_log_account_deletion"),
    ]

    operations = [
        migrations.CreateModel(
            name="AgencyActivity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("participations", models.PositiveIntegerField(verbose_name="participations")),
                (
                    "activity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="activities.activity",
                        verbose_name="activity",
                    ),
                ),
                (
                    "agency",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="communities.agency",
                        verbose_name="agency",
                    ),
                ),
            ],
            options={
                "verbose_name": "activity of an agency's members",
                "verbose_name_plural": "activities of agencies' members",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("agency", "activity"), name="activities_agencyactivity_one_per_pair"
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
