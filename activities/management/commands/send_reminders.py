"""One sweep by hand: queue what is due and send it here, without a worker."""

import uuid

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from activities import reminders
from notifications import delivery
from notifications.models import Notification

CHUNK = 500


class Command(BaseCommand):
    help = "Runs the reminder rules once and sends what is due; prints counts per kind."

    def handle(self, *args, **options):
        queued = reminders.sweep(timezone.now())
        now = timezone.now()  # after the sweep, so that what it just queued is due
        token = f"command-{uuid.uuid4().hex}"
        outcome = {}
        due = delivery.deliverable(now).order_by("pk").values_list("pk", flat=True)
        last = 0
        while True:
            # Chunks by id keep memory flat however many messages are due.
            ids = list(due.filter(pk__gt=last)[:CHUNK])
            if not ids:
                break
            last = ids[-1]
            for key, count in delivery.deliver(ids, token=token, now=now).items():
                outcome[key] = outcome.get(key, 0) + count
        kinds = sorted({*queued, *(kind for kind, _ in outcome)})
        for kind in kinds:
            self.stdout.write(
                _("%(kind)s: queued %(queued)s, sent %(sent)s, failed %(failed)s")
                % {
                    "kind": Notification.Kind(kind).label,
                    "queued": queued.get(kind, 0),
                    "sent": outcome.get((kind, "sent"), 0),
                    "failed": outcome.get((kind, "failed"), 0),
                }
            )
        total_sent = sum(n for (kind, result), n in outcome.items() if result == "sent")
        self.stdout.write(
            _("Total: queued %(queued)s, sent %(sent)s")
            % {"queued": sum(queued.values()), "sent": total_sent}
        )
