"""Registration.agency: the member's agency on each report-in, kept by triggers and filled from
the members there are; the index the community dashboard counts its members by agency from."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# Every report-in written takes its member's agency (Django's save() writes every column, a
# new instance's None among them); a member moving agency takes their report-ins along.
POSTGRESQL = [
    """
    CREATE FUNCTION members_registration_agency() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.agency_id := (SELECT m.agency_id FROM members_member m WHERE m.id = NEW.member_id);
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER members_registration_agency
    BEFORE INSERT OR UPDATE ON members_registration
    FOR EACH ROW EXECUTE FUNCTION members_registration_agency()
    """,
    """
    CREATE FUNCTION members_registration_agency_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE members_registration SET agency_id = NEW.agency_id WHERE member_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER members_registration_agency_moved
    AFTER UPDATE OF agency_id ON members_member
    FOR EACH ROW WHEN (OLD.agency_id IS DISTINCT FROM NEW.agency_id)
    EXECUTE FUNCTION members_registration_agency_moved()
    """,
]
POSTGRESQL_DROP = [
    "DROP TRIGGER members_registration_agency_moved ON members_member",
    "DROP FUNCTION members_registration_agency_moved()",
    "DROP TRIGGER members_registration_agency ON members_registration",
    "DROP FUNCTION members_registration_agency()",
]
# SQLite's triggers cannot change the row being written: the row is set right after it. Its
# own update does not fire the trigger that made it (recursive triggers are off), and finds
# the agency already right.
_MEMBERS_AGENCY = "(SELECT m.agency_id FROM members_member m WHERE m.id = NEW.member_id)"
SQLITE = [
    f"""
    CREATE TRIGGER members_registration_agency_in
    AFTER INSERT ON members_registration FOR EACH ROW
    BEGIN
        UPDATE members_registration SET agency_id = {_MEMBERS_AGENCY} WHERE id = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER members_registration_agency_kept
    AFTER UPDATE ON members_registration FOR EACH ROW
    WHEN NEW.agency_id IS NOT {_MEMBERS_AGENCY}
    BEGIN
        UPDATE members_registration SET agency_id = {_MEMBERS_AGENCY} WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER members_registration_agency_moved
    AFTER UPDATE OF agency_id ON members_member FOR EACH ROW
    WHEN OLD.agency_id IS NOT NEW.agency_id
    BEGIN
        UPDATE members_registration SET agency_id = NEW.agency_id WHERE member_id = NEW.id;
    END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER members_registration_agency_moved",
    "DROP TRIGGER members_registration_agency_kept",
    "DROP TRIGGER members_registration_agency_in",
]
# Taken after the triggers: on PostgreSQL creating them locks the tables against writes until
# this migration commits, so no report-in is missed between the two.
BACKFILL = """
    UPDATE members_registration SET agency_id = (
        SELECT m.agency_id FROM members_member m WHERE m.id = members_registration.member_id
    )
"""


def _run(schema_editor, statements):
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"Registration.agency has triggers for PostgreSQL and SQLite only, not {vendor}")
    _run(schema_editor, (POSTGRESQL if vendor == "postgresql" else SQLITE) + [BACKFILL])


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('communities', '0004_city_seed'),
        ('members', '0010_registration_liaison_active_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='registration',
            name='agency',
            field=models.ForeignKey(db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='communities.agency', verbose_name='agency'),
        ),
        migrations.RunPython(install, uninstall),
        migrations.AddIndex(
            model_name='registration',
            index=models.Index(fields=['community', 'status', 'agency'], include=('member',), name='registration_community_agency'),
        ),
    ]
