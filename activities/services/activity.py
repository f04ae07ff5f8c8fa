"""Writes to activities: changing and cancelling them tells those signed up."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from members.models import Member

from ..models import Activity, Notification, Participation
from ..notify import notify


def _signed_up_members(activity: Activity):
    return [
        p.member
        for p in Participation.objects.filter(
            activity=activity,
            status=Participation.Status.SIGNED_UP,
            member__status=Member.Status.ACTIVE,
        ).select_related("member__user")
    ]


@transaction.atomic
def activity_notify_changed(*, activity: Activity) -> int:
    """Tells those signed up that the time or place changed; once per saved version."""
    return notify(
        kind=Notification.Kind.ACTIVITY_CHANGED,
        recipients=_signed_up_members(activity),
        obj=activity,
        slot=activity.updated_at.strftime("%Y%m%d%H%M%S%f"),
        robot=activity.community,
        deadline=activity.starts_at,
    )


@transaction.atomic
def activity_cancel(*, activity: Activity, reason: str) -> Activity:
    """Cancels an activity and tells those signed up, once."""
    reason = (reason or "").strip()
    if activity.status == Activity.Status.CANCELLED:
        raise ValidationError(gettext_lazy("This activity is already cancelled."))
    if not reason:
        raise ValidationError(gettext_lazy("Give the reason for cancelling."))
    activity.status = Activity.Status.CANCELLED
    activity.cancel_reason = reason
    activity.save(update_fields=["status", "cancel_reason", "updated_at"])
    notify(
        kind=Notification.Kind.ACTIVITY_CANCELLED,
        recipients=_signed_up_members(activity),
        obj=activity,
        context={"reason": reason},
        slot="cancelled",
        robot=activity.community,
    )
    return activity
