"""Once scheduled the reminder sweep; it creates nothing any more.

The schedule is declared in code (`beat_schedule` in xiachen/celery.py) and beat writes it into
the database when it starts (xiachen/beat.py). This migration stays, empty, so that databases
that applied it keep a history that matches; the row it made there is kept and adopted by name.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0003_notifications_and_duty_roster"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
