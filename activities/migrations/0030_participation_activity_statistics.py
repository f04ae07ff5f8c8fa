# For "a street's participations" (Participation.visible_to(street officer), counted on the
# bench; the street's pages that join its activities to their participations): PostgreSQL's
# estimate of how many activities the participations name. From its default sample of 30,000 of
# the city's 1.5 million rows it guessed 78,000 activities where there are 150,000, so about 19
# participations an activity instead of 10; with that guess, joining a street's 28,000
# activities through the participations' activity index (45–70 ms) and hashing the whole index
# (140 ms) cost the same to the planner, and which one it took changed with each ANALYZE. A
# sample ten times as large guesses 115,000, and the join through the index is the cheaper.
# PostgreSQL only: SQLite keeps no such statistics.

from django.db import migrations

TARGET = 1000


def set_target(apps, schema_editor, target=TARGET):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE activities_participation ALTER COLUMN activity_id"
        f" SET STATISTICS {int(target)}"
    )


def default_target(apps, schema_editor):
    set_target(apps, schema_editor, target=-1)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0029_agreement_duty_index"),
    ]

    operations = [migrations.RunPython(set_target, default_target)]
