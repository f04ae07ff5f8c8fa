"""The kinds of activity DESIGN.md names, needed in every installation, not only the demo."""

from django.db import migrations

TYPES = [
    # code, Chinese name, default nature, order
    ("flood_patrol", "防汛巡逻", "duty", 10),
    ("gate_duty", "门岗值守", "duty", 20),
    ("party_day", "主题党日", "volunteer", 30),
    ("door_to_door", "入户宣传", "volunteer", 40),
    ("visit", "走访慰问", "volunteer", 50),
    ("cleanup", "环境清扫", "volunteer", 60),
    ("other", "其他", "volunteer", 90),
]


def create_types(apps, schema_editor):
    ActivityType = apps.get_model("activities", "ActivityType")
    for code, name, nature, order in TYPES:
        ActivityType.objects.get_or_create(
            code=code, defaults={"name": name, "default_nature": nature, "order": order}
        )


class Migration(migrations.Migration):
    dependencies = [("activities", "0001_initial")]

    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
