"""activities.AgencyActivity, kept by triggers, filled from the participations and activities
there are."""

import django.db.models.deletion
from django.db import migrations, models

# One row per (agency, activity) that an agency office sees by its agency: an activity its
# members take part in (with how many participations are theirs), or one that counts toward
# one of its agreements (`by_agreement`). Each participation written, deleted or moved to
# another member or activity counts in or out; a member moving agency takes their
# participations along; an activity's agreement set, changed or cleared, or an agreement
# changing agency, moves the mark. A row goes when nothing holds it any more. The count makes a
# delete exact without looking at the other participations, and PostgreSQL's row lock on the
# pair orders two writes to it. Each UPDATE and the DELETE after it are two statements: one
# statement does not see the rows its own WITH changed.
_GONE = "a.participations <= 0 AND NOT a.by_agreement"
POSTGRESQL = [
    f"""
    CREATE FUNCTION activities_agencyactivity_count(of_member bigint, of_activity bigint,
                                                    delta integer) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF delta > 0 THEN
            INSERT INTO activities_agencyactivity
                (agency_id, activity_id, participations, by_agreement)
            SELECT m.agency_id, of_activity, delta, false
            FROM members_member m WHERE m.id = of_member
            ON CONFLICT (agency_id, activity_id) DO UPDATE
            SET participations = activities_agencyactivity.participations + delta;
        ELSE
            UPDATE activities_agencyactivity a SET participations = a.participations + delta
            FROM members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity;
            DELETE FROM activities_agencyactivity a USING members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity
              AND {_GONE};
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
    f"""
    CREATE FUNCTION activities_agencyactivity_member() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity a SET participations = a.participations - 1
        FROM activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id;
        DELETE FROM activities_agencyactivity a USING activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id AND {_GONE};
        INSERT INTO activities_agencyactivity
            (agency_id, activity_id, participations, by_agreement)
        SELECT NEW.agency_id, p.activity_id, 1, false FROM activities_participation p
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
    # The activities of an agreement's agency: marked, or unmarked, for the agreement's agency.
    f"""
    CREATE FUNCTION activities_agencyactivity_mark(of_agreement bigint, of_activity bigint,
                                                   counts boolean) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF counts THEN
            INSERT INTO activities_agencyactivity
                (agency_id, activity_id, participations, by_agreement)
            SELECT g.agency_id, of_activity, 0, true
            FROM communities_agreement g WHERE g.id = of_agreement
            ON CONFLICT (agency_id, activity_id) DO UPDATE SET by_agreement = true;
        ELSE
            UPDATE activities_agencyactivity a SET by_agreement = false
            FROM communities_agreement g
            WHERE g.id = of_agreement AND a.agency_id = g.agency_id
              AND a.activity_id = of_activity;
            DELETE FROM activities_agencyactivity a USING communities_agreement g
            WHERE g.id = of_agreement AND a.agency_id = g.agency_id
              AND a.activity_id = of_activity AND {_GONE};
        END IF;
    END $$
    """,
    """
    CREATE FUNCTION activities_agencyactivity_activity() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM activities_agencyactivity WHERE activity_id = OLD.id;
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.agreement_id IS NOT NULL THEN
            PERFORM activities_agencyactivity_mark(OLD.agreement_id, OLD.id, false);
        END IF;
        IF NEW.agreement_id IS NOT NULL THEN
            PERFORM activities_agencyactivity_mark(NEW.agreement_id, NEW.id, true);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_agencyactivity_activity
    AFTER INSERT OR DELETE ON activities_activity
    FOR EACH ROW EXECUTE FUNCTION activities_agencyactivity_activity()
    """,
    """
    CREATE TRIGGER activities_agencyactivity_activity_agreement
    AFTER UPDATE OF agreement_id ON activities_activity
    FOR EACH ROW WHEN (OLD.agreement_id IS DISTINCT FROM NEW.agreement_id)
    EXECUTE FUNCTION activities_agencyactivity_activity()
    """,
    f"""
    CREATE FUNCTION activities_agencyactivity_agreement() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity a SET by_agreement = false
        FROM activities_activity t
        WHERE t.agreement_id = NEW.id AND a.agency_id = OLD.agency_id AND a.activity_id = t.id;
        DELETE FROM activities_agencyactivity a USING activities_activity t
        WHERE t.agreement_id = NEW.id AND a.agency_id = OLD.agency_id AND a.activity_id = t.id
          AND {_GONE};
        INSERT INTO activities_agencyactivity
            (agency_id, activity_id, participations, by_agreement)
        SELECT NEW.agency_id, t.id, 0, true FROM activities_activity t
        WHERE t.agreement_id = NEW.id
        ON CONFLICT (agency_id, activity_id) DO UPDATE SET by_agreement = true;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_agencyactivity_agreement
    AFTER UPDATE OF agency_id ON communities_agreement
    FOR EACH ROW WHEN (OLD.agency_id <> NEW.agency_id)
    EXECUTE FUNCTION activities_agencyactivity_agreement()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER activities_agencyactivity_agreement ON communities_agreement",
    "DROP TRIGGER activities_agencyactivity_activity_agreement ON activities_activity",
    "DROP TRIGGER activities_agencyactivity_activity ON activities_activity",
    "DROP TRIGGER activities_agencyactivity_member ON members_member",
    "DROP TRIGGER activities_agencyactivity_participation_moved ON activities_participation",
    "DROP TRIGGER activities_agencyactivity_participation ON activities_participation",
    "DROP FUNCTION activities_agencyactivity_agreement()",
    "DROP FUNCTION activities_agencyactivity_activity()",
    "DROP FUNCTION activities_agencyactivity_mark(bigint, bigint, boolean)",
    "DROP FUNCTION activities_agencyactivity_member()",
    "DROP FUNCTION activities_agencyactivity_participation()",
    "DROP FUNCTION activities_agencyactivity_count(bigint, bigint, integer)",
]

# The same rules in SQLite's triggers (no functions): a pair is made empty if it is not there,
# counted or marked, and removed once nothing holds it.
_SQLITE_GONE = "participations <= 0 AND NOT by_agreement"
_SQLITE_IN = """
    INSERT OR IGNORE INTO activities_agencyactivity
        (agency_id, activity_id, participations, by_agreement)
    SELECT m.agency_id, NEW.activity_id, 0, 0 FROM members_member m WHERE m.id = NEW.member_id;
    UPDATE activities_agencyactivity SET participations = participations + 1
    WHERE activity_id = NEW.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = NEW.member_id);
"""
_SQLITE_OUT = f"""
    UPDATE activities_agencyactivity SET participations = participations - 1
    WHERE activity_id = OLD.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
    DELETE FROM activities_agencyactivity
    WHERE activity_id = OLD.activity_id AND {_SQLITE_GONE}
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
"""
_SQLITE_MARK = """
    INSERT OR IGNORE INTO activities_agencyactivity
        (agency_id, activity_id, participations, by_agreement)
    SELECT g.agency_id, NEW.id, 0, 0 FROM communities_agreement g WHERE g.id = NEW.agreement_id;
    UPDATE activities_agencyactivity SET by_agreement = 1
    WHERE activity_id = NEW.id
      AND agency_id = (SELECT agency_id FROM communities_agreement WHERE id = NEW.agreement_id);
"""
_SQLITE_UNMARK = f"""
    UPDATE activities_agencyactivity SET by_agreement = 0
    WHERE activity_id = OLD.id
      AND agency_id = (SELECT agency_id FROM communities_agreement WHERE id = OLD.agreement_id);
    DELETE FROM activities_agencyactivity
    WHERE activity_id = OLD.id AND {_SQLITE_GONE}
      AND agency_id = (SELECT agency_id FROM communities_agreement WHERE id = OLD.agreement_id);
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
    f"""
    CREATE TRIGGER activities_agencyactivity_member
    AFTER UPDATE OF agency_id ON members_member FOR EACH ROW
    WHEN OLD.agency_id <> NEW.agency_id
    BEGIN
        UPDATE activities_agencyactivity SET participations = participations - 1
        WHERE agency_id = OLD.agency_id
          AND activity_id IN (SELECT activity_id FROM activities_participation
                              WHERE member_id = NEW.id);
        DELETE FROM activities_agencyactivity
        WHERE agency_id = OLD.agency_id AND {_SQLITE_GONE};
        INSERT OR IGNORE INTO activities_agencyactivity
            (agency_id, activity_id, participations, by_agreement)
        SELECT NEW.agency_id, activity_id, 0, 0 FROM activities_participation
        WHERE member_id = NEW.id;
        UPDATE activities_agencyactivity SET participations = participations + 1
        WHERE agency_id = NEW.agency_id
          AND activity_id IN (SELECT activity_id FROM activities_participation
                              WHERE member_id = NEW.id);
    END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_activity_in
    AFTER INSERT ON activities_activity FOR EACH ROW
    BEGIN {_SQLITE_MARK} END
    """,
    """
    CREATE TRIGGER activities_agencyactivity_activity_out
    AFTER DELETE ON activities_activity FOR EACH ROW
    BEGIN DELETE FROM activities_agencyactivity WHERE activity_id = OLD.id; END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_activity_agreement
    AFTER UPDATE OF agreement_id ON activities_activity FOR EACH ROW
    WHEN OLD.agreement_id IS NOT NEW.agreement_id
    BEGIN {_SQLITE_UNMARK} {_SQLITE_MARK} END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_agreement
    AFTER UPDATE OF agency_id ON communities_agreement FOR EACH ROW
    WHEN OLD.agency_id <> NEW.agency_id
    BEGIN
        UPDATE activities_agencyactivity SET by_agreement = 0
        WHERE agency_id = OLD.agency_id
          AND activity_id IN (SELECT id FROM activities_activity WHERE agreement_id = NEW.id);
        DELETE FROM activities_agencyactivity
        WHERE agency_id = OLD.agency_id AND {_SQLITE_GONE};
        INSERT OR IGNORE INTO activities_agencyactivity
            (agency_id, activity_id, participations, by_agreement)
        SELECT NEW.agency_id, id, 0, 0 FROM activities_activity WHERE agreement_id = NEW.id;
        UPDATE activities_agencyactivity SET by_agreement = 1
        WHERE agency_id = NEW.agency_id
          AND activity_id IN (SELECT id FROM activities_activity WHERE agreement_id = NEW.id);
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER activities_agencyactivity_agreement",
    "DROP TRIGGER activities_agencyactivity_activity_agreement",
    "DROP TRIGGER activities_agencyactivity_activity_out",
    "DROP TRIGGER activities_agencyactivity_activity_in",
    "DROP TRIGGER activities_agencyactivity_member",
    "DROP TRIGGER activities_agencyactivity_participation_moved",
    "DROP TRIGGER activities_agencyactivity_participation_out",
    "DROP TRIGGER activities_agencyactivity_participation_in",
]

# Taken after the triggers: on PostgreSQL creating them locks the tables against writes until
# this migration commits, so none is missed between the two.
BACKFILL = """
    INSERT INTO activities_agencyactivity (agency_id, activity_id, participations, by_agreement)
    SELECT agency_id, activity_id, SUM(participations), SUM(by_agreement) > 0
    FROM (
        SELECT m.agency_id, p.activity_id, 1 AS participations, 0 AS by_agreement
        FROM activities_participation p JOIN members_member m ON m.id = p.member_id
        UNION ALL
        SELECT g.agency_id, t.id, 0, 1
        FROM activities_activity t JOIN communities_agreement g ON g.id = t.agreement_id
    ) AS pairs
    GROUP BY agency_id, activity_id
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
                    "by_agreement",
                    models.BooleanField(verbose_name="counts toward an agreement of the agency"),
                ),
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
                "verbose_name": "activity of an agency",
                "verbose_name_plural": "activities of agencies",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("agency", "activity"), name="activities_agencyactivity_one_per_pair"
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
