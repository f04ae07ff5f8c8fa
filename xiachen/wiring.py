"""Where the apps meet: effects in one app of what happens in another.

Dependencies run activities → members → communities, so members cannot tell anyone about a
decision itself: the outbox lives in activities. Views call these after a members service has
succeeded, inside the same transaction, so the message is queued if and only if the change is
saved.
"""

from activities.models import Notification
from activities.notify import notify
from members.models import Registration


def registration_decided(registration: Registration) -> int:
    """Tells the member that their report-in was approved or returned (the return reason is in
    the message). Returns how many messages were queued."""
    kind = {
        Registration.Status.ACTIVE: Notification.Kind.REGISTRATION_APPROVED,
        Registration.Status.RETURNED: Notification.Kind.REGISTRATION_RETURNED,
    }[registration.status]
    # The community's group robot reaches a member who has no login of their own.
    return notify(
        kind=kind, recipients=[registration.member], obj=registration, robot=registration.community
    )
