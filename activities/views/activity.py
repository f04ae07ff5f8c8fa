"""Activities of a community: the page of one activity."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import path

from ..models import Activity, Participation


@login_required
def activity_detail(request, pk):
    """One activity and who is on it, for anyone whose scope includes it."""
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related(
            "community", "grid", "type", "organizer", "agreement__agency"
        ),
        pk=pk,
    )
    participations = (
        Participation.objects.visible_to(request.user)
        .filter(activity=activity)
        .select_related("member__agency")
        .order_by("member__agency__name", "member__name")
    )
    return render(
        request,
        "activities/activity_detail.html",
        {"activity": activity, "participations": participations},
    )


# --- Notifications: the inbox, one's channels, and the staff outbox ---------------------------


urls = [
    path("<int:pk>/", activity_detail, name="activity_detail"),
]
