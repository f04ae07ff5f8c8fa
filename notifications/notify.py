"""Queueing messages in the outbox: `notify(kind=..., recipients=..., obj=...)`.

A message is one Notification row per (kind, recipient, object, slot, channel). Rows are
inserted with ON CONFLICT DO NOTHING, so queueing the same reminder again — a second sweep, ten
sweeps at once, a retried task — adds nothing. Delivery is enqueued only after the surrounding
transaction commits; a rolled-back change notifies nobody.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communities.models import Agency, Community

from .messages import render
from .models import Notification, NotificationPreference
from .recipients import Recipient, recipients_of
from .tasks import enqueue_due

INSERT_BATCH = 1000


def quiet_hours_due(when: dt.datetime, deadline: dt.datetime | None = None) -> dt.datetime:
    """When a message meant for `when` may go out: a time in the quiet hours (22:00–07:00 by
    default) moves to their end, unless what it is about happens before then."""
    start_hour, end_hour = settings.QUIET_HOURS
    local = timezone.localtime(when)
    hour = local.hour
    in_quiet = (
        (hour >= start_hour or hour < end_hour)
        if start_hour > end_hour
        else (start_hour <= hour < end_hour)
    )
    if not in_quiet:
        return when
    morning = local.replace(hour=end_hour, minute=0, second=0, microsecond=0)
    if hour >= end_hour and start_hour > end_hour:
        morning += dt.timedelta(days=1)
    if deadline is not None and deadline <= morning:
        return when
    return morning


def _preferences(user_ids) -> dict:
    return {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=set(user_ids))}


def _reach(recipient: Recipient, preference, robot_url) -> tuple[list, str]:
    """(channel, address) pairs for one recipient, by their choice and what is possible; and when
    there are none, why (a Notification.Unreachable)."""
    Channel, Unreachable = Notification.Channel, Notification.Unreachable
    user = recipient.user
    if user is None:
        # A member without a login can still be mentioned in the group chat.
        if robot_url:
            return [(Channel.WEBHOOK, robot_url)], ""
        return [], Unreachable.NO_LOGIN
    inapp = preference.inapp if preference else True
    email = preference.email if preference else True
    webhook = preference.webhook if preference else False
    channels = []
    if inapp:
        channels.append((Channel.INAPP, ""))
    if email and user.email:
        channels.append((Channel.EMAIL, user.email))
    if webhook and robot_url:
        channels.append((Channel.WEBHOOK, robot_url))
    if channels:
        return channels, ""
    if email and webhook:
        return [], Unreachable.NO_ROBOT_NO_EMAIL
    if webhook:
        return [], Unreachable.NO_ROBOT
    if email:
        return [], Unreachable.NO_EMAIL
    return [], Unreachable.NO_CHOICE


# How many of those not reached a page names; the rest are counted.
UNREACHED_NAMED = 5


@dataclass(frozen=True)
class Unreached:
    """Someone no channel could reach, and why (a Notification.Unreachable)."""

    name: str
    reason: str

    def __str__(self):
        return _("%(name)s (%(reason)s)") % {
            "name": self.name,
            "reason": Notification.Unreachable(self.reason).label,
        }


@dataclass(frozen=True)
class Notified:
    """What `notify` did: how many messages it queued, and who it could not reach (each recorded
    in the outbox as unreachable). Results add up, for a change that notifies several times."""

    queued: int = 0
    unreached: tuple[Unreached, ...] = ()

    def __add__(self, other: "Notified") -> "Notified":
        return Notified(self.queued + other.queued, self.unreached + other.unreached)

    def warning(self) -> str:
        """What the page that caused the message says of those it could not reach ("" when it
        reached everyone)."""
        if not self.unreached:
            return ""
        people = _("; ").join(str(person) for person in self.unreached[:UNREACHED_NAMED])
        more = len(self.unreached) - UNREACHED_NAMED
        if more > 0:
            people += ngettext(" and %(count)d more", " and %(count)d more", more) % {"count": more}
        return _("Not told, as no channel reaches them: %(people)s.") % {"people": people}


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}" if path.startswith("/") else path


def notify(
    *,
    kind: str,
    recipients: Iterable,
    obj,
    context: dict | None = None,
    slot: str = "",
    robot=None,
    due_at: dt.datetime | None = None,
    deadline: dt.datetime | None = None,
    enqueue: bool = True,
) -> Notified:
    """Queues the message of `kind` about `obj` (its text from notifications.messages, filled
    from `context`) for each recipient (a User, or anything `recipient_of` takes) on the
    channels they chose, once per (kind, recipient, object, slot, channel). `robot` is the
    community or agency whose group robot posts it (its staff see the message in their outbox);
    `deadline`, when given, is the moment the message is useless after, so quiet hours never
    hold it past that. A recipient no channel reaches gets one row in the state UNREACHABLE
    saying why, so that the outbox shows who was missed. Returns how many messages were newly
    queued and who could not be reached."""
    now = timezone.now()
    due_at = quiet_hours_due(due_at or now, deadline)
    message = render(kind, obj, context)
    content_type = ContentType.objects.get_for_model(obj)
    robot_url = getattr(robot, "robot_webhook_url", "") if robot is not None else ""
    robot_kind = getattr(robot, "robot_kind", "") if robot_url else ""
    community = robot if isinstance(robot, Community) else None
    robot_agency = robot if isinstance(robot, Agency) else None
    # Whose robot posts it: delivery reads that robot's address when it sends.
    robot_owner = (
        Notification.RobotOwner.COMMUNITY
        if community is not None
        else Notification.RobotOwner.AGENCY
        if robot_agency is not None
        else ""
    )
    people = recipients_of(recipients)
    preferences = _preferences(p.user.pk for p in people if p.user is not None)
    rows, unreached = [], []
    for person in people:
        preference = preferences.get(person.user.pk) if person.user is not None else None
        channels, reason = _reach(person, preference, robot_url)
        if reason:
            unreached.append(Unreached(person.name, reason))
            channels = [(Notification.Channel.NONE, "")]
        for channel, address in channels:
            by_robot = channel == Notification.Channel.WEBHOOK
            agency_id = person.agency_id or getattr(robot_agency, "pk", None)
            if by_robot and robot_agency is not None:
                agency_id = robot_agency.pk  # the agency whose robot posts it
            rows.append(
                Notification(
                    kind=kind,
                    channel=channel,
                    state=Notification.State.UNREACHABLE if reason else Notification.State.PENDING,
                    unreachable_reason=reason,
                    recipient=person.user,
                    recipient_key=person.key,
                    recipient_name=person.name[:100],
                    recipient_mobile=person.mobile,
                    community=community,
                    agency_id=agency_id,
                    content_type=content_type,
                    object_id=obj.pk,
                    slot=slot,
                    address=address,
                    robot_kind=robot_kind if by_robot else "",
                    robot_owner=robot_owner if by_robot else "",
                    subject=message.subject,
                    body=message.body,
                    url=absolute_url(message.url),
                    due_at=due_at,
                    created_at=now,
                )
            )
    if not rows:
        return Notified()
    # bulk_create cannot tell which rows it added with ignore_conflicts. The rows it added carry
    # this call's created_at; a row that was there already (from another sweep, perhaps one
    # running right now) keeps its own. Counting the whole key before and after instead would
    # count what concurrent sweeps committed meanwhile as this call's. (Counting `before` too
    # keeps it right on a clock that stands still, as in some tests.)
    same_moment = Notification.objects.filter(
        kind=kind, content_type=content_type, object_id=obj.pk, slot=slot, created_at=now
    ).exclude(state=Notification.State.UNREACHABLE)
    with transaction.atomic():
        before = same_moment.count()
        Notification.objects.bulk_create(rows, batch_size=INSERT_BATCH, ignore_conflicts=True)
        created = same_moment.count() - before
        if enqueue and created:
            transaction.on_commit(enqueue_due)
    return Notified(queued=created, unreached=tuple(unreached))
