"""The monthly service summary's indexes hold what the charts read: "a lens's months grouped
by month, by type and by community" (reports.summary.groups_of) is read from the index alone,
for the agency lens (its agencies' rows), the places lens (its communities' rows of all agencies
together) and the city lens (every community's rows of all agencies together)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('activities', '0026_agency_activity_attendance'),
        ('communities', '0004_city_seed'),
        ('reports', '0009_service_hour_certificates'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='servicemonth',
            name='service_month_agency',
        ),
        migrations.RemoveIndex(
            model_name='servicemonth',
            name='service_month_community',
        ),
        migrations.RemoveIndex(
            model_name='servicemonth',
            name='service_month_month',
        ),
        migrations.AddIndex(
            model_name='servicemonth',
            index=models.Index(fields=['agency', 'month'], include=('nature', 'type', 'community', 'present', 'hours'), name='service_month_agency_figures'),
        ),
        migrations.AddIndex(
            model_name='servicemonth',
            index=models.Index(condition=models.Q(('agency__isnull', True)), fields=['community', 'month'], include=('nature', 'type', 'present', 'hours'), name='service_month_places_figures'),
        ),
        migrations.AddIndex(
            model_name='servicemonth',
            index=models.Index(condition=models.Q(('agency__isnull', True)), fields=['month'], include=('nature', 'type', 'community', 'present', 'hours'), name='service_month_city_figures'),
        ),
    ]
