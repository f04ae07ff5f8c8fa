import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('activities', '0007_concern_message_kinds'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('members', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The outbox's models as they were in the activities app, taken over with their tables
    # (created by activities.0003): state only, nothing in the database changes here.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.CreateModel(
            name='NotificationPreference',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('inapp', models.BooleanField(default=True, verbose_name='in-app inbox')),
                ('email', models.BooleanField(default=True, verbose_name='e-mail')),
                ('webhook', models.BooleanField(default=False, help_text="Mention me in the community's or agency's group chat.", verbose_name='group robot')),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='notification_preference', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'notification preference',
                'verbose_name_plural': 'notification preferences',
                'db_table': 'activities_notificationpreference',
            },
        ),
        migrations.CreateModel(
            name='Notification',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('upcoming', 'Upcoming activity'), ('roll_call_due', 'Roll call due'), ('inactivity', 'Inactivity nudge'), ('agency_digest', 'Agency weekly digest'), ('duty_roster', 'Duty tomorrow'), ('activity_changed', 'Activity changed'), ('activity_cancelled', 'Activity cancelled'), ('registration_approved', 'Report-in approved'), ('registration_returned', 'Report-in returned'), ('leave_decided', 'Leave decided'), ('concern_raised', 'Resident concern raised'), ('concern_forwarded', 'Resident concern forwarded'), ('concern_resolved', 'Resident concern resolved'), ('message', 'Message')], max_length=30, verbose_name='kind')),
                ('channel', models.CharField(choices=[('inapp', 'In-app inbox'), ('email', 'E-mail'), ('webhook', 'Group robot')], max_length=10, verbose_name='channel')),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10, verbose_name='state')),
                ('recipient_key', models.CharField(editable=False, max_length=30, verbose_name='recipient key')),
                ('object_id', models.PositiveBigIntegerField(verbose_name='about (id)')),
                ('slot', models.CharField(blank=True, max_length=40, verbose_name='slot')),
                ('address', models.CharField(blank=True, help_text='E-mail address or robot URL.', max_length=500, verbose_name='address')),
                ('robot_kind', models.CharField(blank=True, max_length=10, verbose_name='group robot kind')),
                ('subject', models.CharField(max_length=200, verbose_name='subject')),
                ('body', models.TextField(verbose_name='text')),
                ('url', models.CharField(blank=True, max_length=300, verbose_name='link')),
                ('due_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='due at')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('enqueued_at', models.DateTimeField(blank=True, null=True, verbose_name='handed to a worker at')),
                ('claimed_by', models.CharField(blank=True, max_length=64, verbose_name='claimed by')),
                ('claimed_at', models.DateTimeField(blank=True, null=True, verbose_name='claimed at')),
                ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent at')),
                ('read_at', models.DateTimeField(blank=True, null=True, verbose_name='read at')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='queued at')),
                ('content_type', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='contenttypes.contenttype', verbose_name='about (type)')),
                ('recipient', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to=settings.AUTH_USER_MODEL, verbose_name='recipient')),
                ('recipient_member', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='members.member', verbose_name='recipient member')),
            ],
            options={
                'verbose_name': 'notification',
                'verbose_name_plural': 'notifications',
                'db_table': 'activities_notification',
                'ordering': ['-created_at', '-pk'],
                'indexes': [models.Index(fields=['state', 'due_at'], name='notification_due'), models.Index(fields=['recipient', 'channel', 'read_at'], name='notification_inbox')],
                'constraints': [models.UniqueConstraint(fields=('kind', 'recipient_key', 'content_type', 'object_id', 'slot', 'channel'), name='activities_notification_once', violation_error_message='This message has already been queued.'), models.CheckConstraint(condition=models.Q(('recipient__isnull', False), ('recipient_member__isnull', False), _connector='OR'), name='activities_notification_has_recipient', violation_error_message='A notification needs a recipient.')],
            },
        ),
                ],
            database_operations=[],
        ),
    ]
