"""activities.AgencyActivity holds the activity's start and nature and the figures of the
agency's participations in it (present, absent, on leave, hours of those present), kept by the
same triggers as its count; filled anew from the participations there are.

The queries they serve: "an agency's attendance over a period, by nature" (the agency office's
yearly summary, reports.evidence.agency_totals) and "the count of an office's records" (the
review list, reports.review): at city size 三峡's 154,000 participations were joined to the
year's activities and counted on every request (100–270 ms); its pairs of the year are 12,000
rows of one index (agencyactivity_period).
"""

import django.utils.timezone
from django.db import migrations, models

# The figures one participation gives its pair, of the row `p` (NEW, OLD or a table's).
def _figures(p):
    return (
        f"CASE WHEN {p}.status = 'present' THEN 1 ELSE 0 END",
        f"CASE WHEN {p}.status = 'absent' THEN 1 ELSE 0 END",
        f"CASE WHEN {p}.status = 'leave' THEN 1 ELSE 0 END",
        f"CASE WHEN {p}.status = 'present' THEN COALESCE({p}.hours, 0) ELSE 0 END",
    )


def _changed(sign, p, table=""):
    """SET clauses adding (+) or taking away (-) a participation `p` from its pair."""
    present, absent, leaves, hours = _figures(p)
    t = f"{table}." if table else ""
    return (
        f"participations = {t}participations {sign} 1, present = {t}present {sign} {present}, "
        f"absent = {t}absent {sign} {absent}, leaves = {t}leaves {sign} {leaves}, "
        f"hours = {t}hours {sign} {hours}"
    )


COLUMNS = (
    "(agency_id, activity_id, participations, by_agreement, starts_at, nature, "
    "present, absent, leaves, hours)"
)
_GONE = "a.participations <= 0 AND NOT a.by_agreement"

# PostgreSQL: the functions of 0023 take the participation's status and hours along; a change
# of status or hours counts out the old figures and in the new; an activity moved in time or
# changing nature takes its pairs along.
POSTGRESQL = [
    "DROP TRIGGER activities_agencyactivity_participation_moved ON activities_participation",
    "DROP FUNCTION activities_agencyactivity_count(bigint, bigint, integer)",
    f"""
    CREATE FUNCTION activities_agencyactivity_count(of_member bigint, of_activity bigint,
                                                    delta integer, of_status text,
                                                    of_hours numeric) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        d_present integer := CASE WHEN of_status = 'present' THEN delta ELSE 0 END;
        d_absent integer := CASE WHEN of_status = 'absent' THEN delta ELSE 0 END;
        d_leaves integer := CASE WHEN of_status = 'leave' THEN delta ELSE 0 END;
        d_hours numeric := CASE WHEN of_status = 'present' THEN delta * COALESCE(of_hours, 0)
                                ELSE 0 END;
    BEGIN
        IF delta > 0 THEN
            INSERT INTO activities_agencyactivity {COLUMNS}
            SELECT m.agency_id, t.id, delta, false, t.starts_at, t.nature,
                   d_present, d_absent, d_leaves, d_hours
            FROM members_member m, activities_activity t
            WHERE m.id = of_member AND t.id = of_activity
            ON CONFLICT (agency_id, activity_id) DO UPDATE
            SET participations = activities_agencyactivity.participations + delta,
                present = activities_agencyactivity.present + d_present,
                absent = activities_agencyactivity.absent + d_absent,
                leaves = activities_agencyactivity.leaves + d_leaves,
                hours = activities_agencyactivity.hours + d_hours;
        ELSE
            UPDATE activities_agencyactivity a
            SET participations = a.participations + delta, present = a.present + d_present,
                absent = a.absent + d_absent, leaves = a.leaves + d_leaves,
                hours = a.hours + d_hours
            FROM members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity;
            DELETE FROM activities_agencyactivity a USING members_member m
            WHERE m.id = of_member AND a.agency_id = m.agency_id AND a.activity_id = of_activity
              AND {_GONE};
        END IF;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION activities_agencyactivity_participation() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM activities_agencyactivity_count(OLD.member_id, OLD.activity_id, -1,
                                                    OLD.status, OLD.hours);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM activities_agencyactivity_count(NEW.member_id, NEW.activity_id, 1,
                                                    NEW.status, NEW.hours);
        END IF;
        RETURN NULL;
    END $$
    """,
    # Django's save() writes every column: only a real change counts.
    """
    CREATE TRIGGER activities_agencyactivity_participation_changed
    AFTER UPDATE OF member_id, activity_id, status, hours ON activities_participation
    FOR EACH ROW
    WHEN (OLD.member_id <> NEW.member_id OR OLD.activity_id <> NEW.activity_id
          OR OLD.status <> NEW.status OR OLD.hours IS DISTINCT FROM NEW.hours)
    EXECUTE FUNCTION activities_agencyactivity_participation()
    """,
    f"""
    CREATE OR REPLACE FUNCTION activities_agencyactivity_member() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity a SET {_changed("-", "p", "a")}
        FROM activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id;
        DELETE FROM activities_agencyactivity a USING activities_participation p
        WHERE p.member_id = NEW.id AND a.agency_id = OLD.agency_id
          AND a.activity_id = p.activity_id AND {_GONE};
        INSERT INTO activities_agencyactivity {COLUMNS}
        SELECT NEW.agency_id, p.activity_id, 1, false, t.starts_at, t.nature,
               {", ".join(_figures("p"))}
        FROM activities_participation p JOIN activities_activity t ON t.id = p.activity_id
        WHERE p.member_id = NEW.id
        ON CONFLICT (agency_id, activity_id) DO UPDATE
        SET participations = activities_agencyactivity.participations + 1,
            present = activities_agencyactivity.present + EXCLUDED.present,
            absent = activities_agencyactivity.absent + EXCLUDED.absent,
            leaves = activities_agencyactivity.leaves + EXCLUDED.leaves,
            hours = activities_agencyactivity.hours + EXCLUDED.hours;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION activities_agencyactivity_mark(of_agreement bigint,
                                                              of_activity bigint,
                                                              counts boolean) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF counts THEN
            INSERT INTO activities_agencyactivity {COLUMNS}
            SELECT g.agency_id, t.id, 0, true, t.starts_at, t.nature, 0, 0, 0, 0
            FROM communities_agreement g, activities_activity t
            WHERE g.id = of_agreement AND t.id = of_activity
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
    f"""
    CREATE OR REPLACE FUNCTION activities_agencyactivity_agreement() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity a SET by_agreement = false
        FROM activities_activity t
        WHERE t.agreement_id = NEW.id AND a.agency_id = OLD.agency_id AND a.activity_id = t.id;
        DELETE FROM activities_agencyactivity a USING activities_activity t
        WHERE t.agreement_id = NEW.id AND a.agency_id = OLD.agency_id AND a.activity_id = t.id
          AND {_GONE};
        INSERT INTO activities_agencyactivity {COLUMNS}
        SELECT NEW.agency_id, t.id, 0, true, t.starts_at, t.nature, 0, 0, 0, 0
        FROM activities_activity t
        WHERE t.agreement_id = NEW.id
        ON CONFLICT (agency_id, activity_id) DO UPDATE SET by_agreement = true;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION activities_agencyactivity_activity_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE activities_agencyactivity SET starts_at = NEW.starts_at, nature = NEW.nature
        WHERE activity_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER activities_agencyactivity_activity_moved
    AFTER UPDATE OF starts_at, nature ON activities_activity
    FOR EACH ROW WHEN (OLD.starts_at <> NEW.starts_at OR OLD.nature <> NEW.nature)
    EXECUTE FUNCTION activities_agencyactivity_activity_moved()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER activities_agencyactivity_activity_moved ON activities_activity",
    "DROP FUNCTION activities_agencyactivity_activity_moved()",
    "DROP TRIGGER activities_agencyactivity_participation_changed ON activities_participation",
    "DROP FUNCTION activities_agencyactivity_count(bigint, bigint, integer, text, numeric)",
]

# SQLite: every trigger of 0023 made again with the figures (no functions to replace).
_SQLITE_GONE = "participations <= 0 AND NOT by_agreement"
_SQLITE_IN = f"""
    INSERT OR IGNORE INTO activities_agencyactivity {COLUMNS}
    SELECT m.agency_id, t.id, 0, 0, t.starts_at, t.nature, 0, 0, 0, 0
    FROM members_member m, activities_activity t
    WHERE m.id = NEW.member_id AND t.id = NEW.activity_id;
    UPDATE activities_agencyactivity SET {_changed("+", "NEW")}
    WHERE activity_id = NEW.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = NEW.member_id);
"""
_SQLITE_OUT = f"""
    UPDATE activities_agencyactivity SET {_changed("-", "OLD")}
    WHERE activity_id = OLD.activity_id
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
    DELETE FROM activities_agencyactivity
    WHERE activity_id = OLD.activity_id AND {_SQLITE_GONE}
      AND agency_id = (SELECT agency_id FROM members_member WHERE id = OLD.member_id);
"""
_SQLITE_MARK = f"""
    INSERT OR IGNORE INTO activities_agencyactivity {COLUMNS}
    SELECT g.agency_id, NEW.id, 0, 0, NEW.starts_at, NEW.nature, 0, 0, 0, 0
    FROM communities_agreement g WHERE g.id = NEW.agreement_id;
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
# The member's participation in the pair's activity (one at most: one per member and activity).
_MEMBERS = (
    "(SELECT {figure} FROM activities_participation p "
    "WHERE p.member_id = NEW.id AND p.activity_id = activities_agencyactivity.activity_id)"
)
_SQLITE_MEMBER_FIGURES = dict(
    zip(("present", "absent", "leaves", "hours"), (_MEMBERS.format(figure=f) for f in _figures("p")))
)


def _member_moves(sign):
    return ", ".join(
        [f"participations = participations {sign} 1"]
        + [f"{name} = {name} {sign} {value}" for name, value in _SQLITE_MEMBER_FIGURES.items()]
    )


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
    CREATE TRIGGER activities_agencyactivity_participation_changed
    AFTER UPDATE OF member_id, activity_id, status, hours ON activities_participation
    FOR EACH ROW
    WHEN OLD.member_id <> NEW.member_id OR OLD.activity_id <> NEW.activity_id
      OR OLD.status <> NEW.status OR OLD.hours IS NOT NEW.hours
    BEGIN {_SQLITE_OUT} {_SQLITE_IN} END
    """,
    f"""
    CREATE TRIGGER activities_agencyactivity_member
    AFTER UPDATE OF agency_id ON members_member FOR EACH ROW
    WHEN OLD.agency_id <> NEW.agency_id
    BEGIN
        UPDATE activities_agencyactivity SET {_member_moves("-")}
        WHERE agency_id = OLD.agency_id
          AND activity_id IN (SELECT activity_id FROM activities_participation
                              WHERE member_id = NEW.id);
        DELETE FROM activities_agencyactivity
        WHERE agency_id = OLD.agency_id AND {_SQLITE_GONE};
        INSERT OR IGNORE INTO activities_agencyactivity {COLUMNS}
        SELECT NEW.agency_id, t.id, 0, 0, t.starts_at, t.nature, 0, 0, 0, 0
        FROM activities_participation p JOIN activities_activity t ON t.id = p.activity_id
        WHERE p.member_id = NEW.id;
        UPDATE activities_agencyactivity SET {_member_moves("+")}
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
    """
    CREATE TRIGGER activities_agencyactivity_activity_moved
    AFTER UPDATE OF starts_at, nature ON activities_activity FOR EACH ROW
    WHEN OLD.starts_at <> NEW.starts_at OR OLD.nature <> NEW.nature
    BEGIN
        UPDATE activities_agencyactivity SET starts_at = NEW.starts_at, nature = NEW.nature
        WHERE activity_id = NEW.id;
    END
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
        INSERT OR IGNORE INTO activities_agencyactivity {COLUMNS}
        SELECT NEW.agency_id, id, 0, 0, starts_at, nature, 0, 0, 0, 0
        FROM activities_activity WHERE agreement_id = NEW.id;
        UPDATE activities_agencyactivity SET by_agreement = 1
        WHERE agency_id = NEW.agency_id
          AND activity_id IN (SELECT id FROM activities_activity WHERE agreement_id = NEW.id);
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER activities_agencyactivity_participation_in",
    "DROP TRIGGER activities_agencyactivity_participation_out",
    "DROP TRIGGER activities_agencyactivity_participation_changed",
    "DROP TRIGGER activities_agencyactivity_member",
    "DROP TRIGGER activities_agencyactivity_activity_in",
    "DROP TRIGGER activities_agencyactivity_activity_out",
    "DROP TRIGGER activities_agencyactivity_activity_agreement",
    "DROP TRIGGER activities_agencyactivity_activity_moved",
    "DROP TRIGGER activities_agencyactivity_agreement",
]

# The pairs counted anew, after the triggers (on PostgreSQL creating them locks the tables
# against writes until this migration commits, so none is missed between the two).
REBUILD = [
    "DELETE FROM activities_agencyactivity",
    f"""
    INSERT INTO activities_agencyactivity {COLUMNS}
    SELECT pairs.agency_id, pairs.activity_id, SUM(participations), SUM(by_agreement) > 0,
           t.starts_at, t.nature, SUM(present), SUM(absent), SUM(leaves), SUM(hours)
    FROM (
        SELECT m.agency_id, p.activity_id, 1 AS participations, 0 AS by_agreement,
               {", ".join(f"{e} AS {n}" for e, n in zip(_figures("p"), ("present", "absent", "leaves", "hours")))}
        FROM activities_participation p JOIN members_member m ON m.id = p.member_id
        UNION ALL
        SELECT g.agency_id, t.id, 0, 1, 0, 0, 0, 0
        FROM activities_activity t JOIN communities_agreement g ON g.id = t.agreement_id
    ) AS pairs JOIN activities_activity t ON t.id = pairs.activity_id
    GROUP BY pairs.agency_id, pairs.activity_id, t.starts_at, t.nature
    """,
]


def _previous():
    import importlib

    return importlib.import_module("activities.migrations.0023_agency_activities")


def _run(schema_editor, statements):
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def drop_sqlite_triggers(apps, schema_editor):
    """SQLite's triggers name the table in their bodies: they go before its columns are added
    (SQLite makes the table anew) and come back, with the figures, after."""
    if schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, _previous().SQLITE_DROP)


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, _previous().SQLITE)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, (POSTGRESQL if vendor == "postgresql" else SQLITE) + REBUILD)
    if vendor == "postgresql":
        # The rows' foreign keys checked now, not at commit: PostgreSQL makes no index on a
        # table with checks still pending (the index below).
        _run(schema_editor, ["SET CONSTRAINTS ALL IMMEDIATE", "SET CONSTRAINTS ALL DEFERRED"])


def uninstall(apps, schema_editor):
    """Back to 0023's triggers (on SQLite once the figures' columns are gone)."""
    previous = _previous()
    if schema_editor.connection.vendor == "postgresql":
        # 0023's moved-participation trigger and its three-argument count went at install
        # (POSTGRESQL's first two statements): not there to drop again.
        dropped = set(POSTGRESQL[:2])
        _run(
            schema_editor,
            POSTGRESQL_DROP
            + [statement for statement in previous.POSTGRESQL_DROP if statement not in dropped]
            + previous.POSTGRESQL,
        )
    else:
        _run(schema_editor, SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0025_call_outs"),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, restore_sqlite_triggers),
        migrations.AddField(
            model_name="agencyactivity",
            name="starts_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="starts at"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="agencyactivity",
            name="nature",
            field=models.CharField(default="", max_length=10, verbose_name="nature"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="agencyactivity",
            name="present",
            field=models.PositiveIntegerField(default=0, verbose_name="present"),
        ),
        migrations.AddField(
            model_name="agencyactivity",
            name="absent",
            field=models.PositiveIntegerField(default=0, verbose_name="absent"),
        ),
        migrations.AddField(
            model_name="agencyactivity",
            name="leaves",
            field=models.PositiveIntegerField(default=0, verbose_name="leaves"),
        ),
        migrations.AddField(
            model_name="agencyactivity",
            name="hours",
            field=models.DecimalField(
                decimal_places=1, default=0, max_digits=9, verbose_name="service hours"
            ),
        ),
        migrations.RunPython(install, uninstall),
        # "an agency's attendance over a period, by nature" (the yearly summary) and "the count
        # of an office's records" (the review list). The figures stay out of the index (see the
        # model's Meta).
        migrations.AddIndex(
            model_name="agencyactivity",
            index=models.Index(
                fields=["agency", "starts_at"],
                include=("nature",),
                name="agencyactivity_period",
            ),
        ),
    ]
