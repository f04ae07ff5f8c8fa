"""A certificate keeps the activities it lists (date, activity, community, ledger, hours), frozen
at issue: its PDF is written again from the register on every download, so the lines must be the
register's, not the ledger's of the day. Certificates issued before keep null (no list)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0011_community_month_covering_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='certificate',
            name='lines',
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name='activities served'),
        ),
    ]
