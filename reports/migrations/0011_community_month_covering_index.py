"""The overview's community months covered for "a street's communities' figures of a period"
(reports.overview.street_overview): each community's sums read from the index alone."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('communities', '0004_city_seed'),
        ('reports', '0010_service_month_covering_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='communitymonth',
            index=models.Index(fields=['community', 'month'], include=('activities', 'present', 'hours'), name='communitymonth_community'),
        ),
    ]
