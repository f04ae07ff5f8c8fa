import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def copy_recipients(apps, schema_editor):
    """Name, mobile and agency of each message's member, kept on the message itself: the outbox
    no longer points at members (notifications knows users, not members)."""
    Notification = apps.get_model("notifications", "Notification")
    Member = apps.get_model("members", "Member")
    for link, lookup in (("recipient_member", "pk"), ("recipient", "user")):
        member = Member.objects.filter(**{lookup: OuterRef(link)})
        Notification.objects.filter(**{f"{link}__isnull": False}, recipient_name="").update(
            # A login without a member record (community staff) keeps an empty name: pages
            # show the username.
            recipient_name=Coalesce(Subquery(member.values("name")[:1]), Value("")),
            recipient_mobile=Coalesce(Subquery(member.values("mobile")[:1]), Value("")),
            agency=Subquery(member.values("agency")[:1]),
        )


def move_content_types(apps, schema_editor):
    """Permissions and admin log entries follow the models to their new app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("notification", "notificationpreference"):
        if not ContentType.objects.filter(app_label="notifications", model=model).exists():
            ContentType.objects.filter(app_label="activities", model=model).update(
                app_label="notifications"
            )


def reverse_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("notification", "notificationpreference"):
        if not ContentType.objects.filter(app_label="activities", model=model).exists():
            ContentType.objects.filter(app_label="notifications", model=model).update(
                app_label="activities"
            )


class Migration(migrations.Migration):

    dependencies = [
        ('communities', '0003_group_robot_webhooks'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('members', '0001_initial'),
        ('notifications', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The tables take the app's name; each message keeps its member's name and mobile.
    operations = [
        migrations.AlterModelTable(
            name='notification',
            table=None,
        ),
        migrations.AlterModelTable(
            name='notificationpreference',
            table=None,
        ),
    
        migrations.RemoveConstraint(
            model_name='notification',
            name='activities_notification_once',
        ),
        migrations.RemoveConstraint(
            model_name='notification',
            name='activities_notification_has_recipient',
        ),
        migrations.AddField(
            model_name='notification',
            name='agency',
            field=models.ForeignKey(blank=True, help_text='The agency of the person it is for; its party office sees it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='communities.agency', verbose_name='agency'),
        ),
        migrations.AddField(
            model_name='notification',
            name='community',
            field=models.ForeignKey(blank=True, help_text='The community the message concerns; its staff see it in their outbox.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='communities.community', verbose_name='community'),
        ),
        migrations.AddField(
            model_name='notification',
            name='recipient_mobile',
            field=models.CharField(blank=True, max_length=20, verbose_name='recipient mobile'),
        ),
        migrations.AddField(
            model_name='notification',
            name='recipient_name',
            field=models.CharField(blank=True, max_length=100, verbose_name='recipient name'),
        ),
        migrations.RunPython(copy_recipients, migrations.RunPython.noop),
        migrations.RunPython(move_content_types, reverse_content_types),
        migrations.RemoveField(
            model_name='notification',
            name='recipient_member',
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.UniqueConstraint(fields=('kind', 'recipient_key', 'content_type', 'object_id', 'slot', 'channel'), name='notifications_notification_once', violation_error_message='This message has already been queued.'),
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.CheckConstraint(condition=models.Q(('recipient__isnull', False), models.Q(('recipient_name', ''), _negated=True), _connector='OR'), name='notifications_notification_has_recipient', violation_error_message='A notification needs a recipient.'),
        ),
    ]
