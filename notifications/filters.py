"""The filters of the staff outbox (django-filter)."""

import django_filters
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from communities.filters import FilterSet, LocalDayFilter

from .models import Notification


class OutboxFilterSet(FilterSet):
    """State, kind, channel, and the local days a message was queued on."""

    state = django_filters.ChoiceFilter(
        label=capfirst(_("state")),
        choices=Notification.State.choices,
        empty_label=_("All states"),
    )
    kind = django_filters.ChoiceFilter(
        label=capfirst(_("kind")),
        choices=Notification.Kind.choices,
        empty_label=_("All kinds"),
    )
    channel = django_filters.ChoiceFilter(
        label=capfirst(_("channel")),
        choices=Notification.Channel.choices,
        empty_label=_("All channels"),
    )
    date_from = LocalDayFilter("created_at", label=_("Queued from"))
    date_to = LocalDayFilter("created_at", through=True, label=_("Queued until"))
