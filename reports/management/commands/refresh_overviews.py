from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from reports.summaries import overview_refresh


class Command(BaseCommand):
    help = "Rebuilds the street and city overviews' figures (the periodic task, by hand)."

    def handle(self, *args, **options):
        refresh = overview_refresh()
        self.stdout.write(
            _("Overview figures refreshed in %(seconds).1f s.") % {"seconds": refresh.seconds}
        )
