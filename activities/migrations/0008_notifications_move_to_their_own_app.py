from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('activities', '0007_concern_message_kinds'),
        ('notifications', '0001_initial'),
    ]

    # The outbox moved to the notifications app. Its tables stay where they are here and are
    # renamed by notifications.0002, so every row is kept; only Django's idea of who owns
    # them changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.RemoveField(
            model_name='notificationpreference',
            name='user',
        ),
        migrations.DeleteModel(
            name='Notification',
        ),
        migrations.DeleteModel(
            name='NotificationPreference',
        ),
                ],
            database_operations=[],
        ),
    ]
