from django.core.management.base import BaseCommand
from django.utils.translation import ngettext

from communities.services import agreements_expire


class Command(BaseCommand):
    help = "Stores EXPIRED on every active agreement past its end date (the nightly task)."

    def handle(self, *args, **options):
        count = agreements_expire()
        self.stdout.write(
            ngettext("Expired %(count)d agreement.", "Expired %(count)d agreements.", count)
            % {"count": count}
        )
