"""The call-outs' escalation by hand: what the beat task does every minute."""

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.services.callouts import callout_escalate_due


class Command(BaseCommand):
    help = "Escalates the open call-outs whose need has waited CALLOUT_ESCALATE_MINUTES."

    def handle(self, *args, **options):
        escalated = callout_escalate_due(now=timezone.now())
        self.stdout.write(_("%(count)s call-outs escalated.") % {"count": len(escalated)})
