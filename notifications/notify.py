"""Queueing messages in the outbox.

`notify(kind=..., recipients=..., obj=...)` queues one message to a few people (a service telling
those concerned about a change). `notify_each(kind, outgoing)` queues many at once, each about
its own object (the reminder rules), CHUNK at a time: a few queries a chunk, and memory that does
not grow with the number of messages. `unsent(queryset, ...)` leaves out in SQL those whose
message is in the outbox already, so that a rule run every minute reads only what it still has
to write.

A message is one Notification row per (kind, recipient, object, slot, channel). Rows are
inserted with ON CONFLICT DO NOTHING ... RETURNING, so queueing the same reminder again — a
second sweep, ten sweeps at once, a retried task — adds nothing, and each call counts the rows it
added itself. Delivery is enqueued only after the surrounding transaction commits; a rolled-back
change notifies nobody.
"""

import datetime as dt
import gc
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communities.models import Agency, Community

from .messages import Message, render, text_key
from .models import Notification
from .reach import channels_for, preferences_for, reachable
from .recipients import Recipient, recipients_of
from .tasks import enqueue_due

# Recipients written together (one transaction), and rows per INSERT statement (29 columns
# each: well within PostgreSQL's 65,535 parameters and SQLite's 32,766).
CHUNK = 1000
INSERT_BATCH = 1000
State = Notification.State


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


@dataclass(frozen=True)
class Robot:
    """The group robot that would post a message: that of a community or of an agency (its
    staff then see the message in their outbox), with its address as it is now."""

    url: str = ""
    kind: str = ""
    community: Community | None = None
    agency: Agency | None = None

    @classmethod
    def of(cls, owner) -> "Robot":
        if owner is None:
            return cls()
        url = getattr(owner, "robot_webhook_url", "")
        return cls(
            url=url,
            kind=getattr(owner, "robot_kind", "") if url else "",
            community=owner if isinstance(owner, Community) else None,
            agency=owner if isinstance(owner, Agency) else None,
        )

    @property
    def owner(self) -> str:
        """Whose robot posts it: delivery reads that robot's address when it sends."""
        if self.community is not None:
            return Notification.RobotOwner.COMMUNITY
        if self.agency is not None:
            return Notification.RobotOwner.AGENCY
        return ""


@dataclass(frozen=True)
class Outgoing:
    """One message to queue: to whom (a User, a Recipient, or anything with `as_recipient()`),
    about what, in which slot, through whose group robot (a community or an agency). `context`
    holds the facts its text needs; `deadline` is the moment it is useless after, so that quiet
    hours never hold it past that. `community` is the community the message concerns, whose
    staff see it in their outbox, when it is not the one whose robot posts it (a call-out
    mentioned by the member's agency's robot is still its community's)."""

    recipient: Any
    obj: Any
    slot: str = ""
    robot: Any = None
    context: dict | None = None
    deadline: dt.datetime | None = None
    community: Community | None = None


def _rows(kind, person: Recipient, out: Outgoing, message: Message, preference, *, due_at, now):
    """The outbox rows of one message to one person — one per channel that reaches them, or the
    one row saying why none does — and that reason ("" when reached)."""
    robot = Robot.of(out.robot)
    urgent = kind in Notification.URGENT_KINDS
    channels, reason = channels_for(person, preference, robot.url, urgent=urgent)
    if reason:
        channels = [(Notification.Channel.NONE, "")]
    rows = []
    for channel, address in channels:
        by_robot = channel == Notification.Channel.WEBHOOK
        agency_id = person.agency_id or getattr(robot.agency, "pk", None)
        if by_robot and robot.agency is not None:
            agency_id = robot.agency.pk  # the agency whose robot posts it
        # By column: building 40,000 model instances took longer than writing them.
        rows.append(
            {
                "kind": kind,
                "channel": channel,
                "state": State.UNREACHABLE if reason else State.PENDING,
                "unreachable_reason": reason,
                "recipient_id": person.user.pk if person.user is not None else None,
                "recipient_key": person.key,
                "recipient_name": person.name[:100],
                "recipient_mobile": person.mobile,
                "community_id": getattr(out.community or robot.community, "pk", None),
                "agency_id": agency_id,
                "content_type_id": ContentType.objects.get_for_model(out.obj).pk,
                "object_id": out.obj.pk,
                "slot": out.slot,
                "address": address,
                "robot_kind": robot.kind if by_robot else "",
                "robot_owner": robot.owner if by_robot else "",
                "subject": message.subject,
                "body": message.body,
                "url": absolute_url(
                    message.shared_url
                    if by_robot and message.shared_url is not None
                    else message.url
                ),
                # An urgent message (a call-out) wakes people: the quiet hours do not hold it.
                "due_at": due_at if urgent else quiet_hours_due(due_at, out.deadline),
                "created_at": now,
            }
        )
    return rows, reason


def _insert_new(rows: list[dict], *, at_once: bool = False) -> int:
    """Inserts `rows` (values by column), skipping those whose key is taken (ON CONFLICT DO
    NOTHING), and returns how many it added that are messages to send (not records of the
    unreachable). RETURNING gives back only the rows a statement added itself, so that a sweep
    running at the same moment never counts as this one (bulk_create with ignore_conflicts
    cannot tell). Columns a row leaves out take their model default."""
    connection = connections[router.db_for_write(Notification)]
    columns = [field for field in Notification._meta.concrete_fields if not field.primary_key]
    defaults = {field.attname: field.get_default() for field in columns}
    moments = {field.attname for field in columns if isinstance(field, models.DateTimeField)}
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    head = "INSERT INTO {} ({}) VALUES ".format(
        quote(Notification._meta.db_table), ", ".join(quote(field.column) for field in columns)
    )
    values = "({})".format(", ".join(["%s"] * len(columns)))
    tail = f" ON CONFLICT DO NOTHING RETURNING {quote('state')}"

    def params(row):
        for name in defaults:
            value = row.get(name, defaults[name])
            yield adapt(value) if name in moments and value is not None else value

    added = 0
    if at_once and connection.vendor == "postgresql" and rows:
        return _insert_all_postgresql(connection, columns, rows, defaults)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            cursor.execute(
                head + ", ".join([values] * len(batch)) + tail,
                [value for row in batch for value in params(row)],
            )
            added += sum(state != State.UNREACHABLE for (state,) in cursor.fetchall())
    return added


def _insert_all_postgresql(connection, columns, rows, defaults) -> int:
    """`_insert_new`'s rows in one statement whatever their number: each column is passed as
    one array and the rows are rebuilt by unnest(), so that a call-out to 3,000 members costs
    the same statements as one to 300."""
    quote = connection.ops.quote_name
    arrays = []
    for field in columns:
        name = field.attname
        arrays.append([row.get(name, defaults[name]) for row in rows])
    casts = ", ".join(f"%s::{field.db_type(connection)}[]" for field in columns)
    sql = (
        f"INSERT INTO {quote(Notification._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in columns)}) "
        f"SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING RETURNING {quote('state')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return sum(state != State.UNREACHABLE for (state,) in cursor.fetchall())


def _write(
    kind: str,
    outgoing: list[Outgoing],
    *,
    due_at,
    now,
    as_fetched: bool = False,
    at_once: bool = False,
) -> tuple[int, list[Unreached]]:
    """Queues one chunk of messages in one transaction: each text rendered once per object, or
    once for all where it says nothing of the object (a rule passes the same context for the
    same object); preferences read together, or with `as_fetched` as fetched with the logins.
    Returns how many were newly queued and who no channel reaches."""
    people = recipients_of(out.recipient for out in outgoing)
    logins = (person.user for person in people if person.user is not None)
    preferences = preferences_for(logins, as_fetched=as_fetched)
    messages, rows, unreached = {}, [], []
    for person, out in zip(people, outgoing, strict=True):
        about = text_key(kind, out.obj)
        if about not in messages:
            messages[about] = render(kind, out.obj, out.context)
        preference = preferences.get(person.user.pk) if person.user is not None else None
        written, reason = _rows(
            kind, person, out, messages[about], preference, due_at=due_at, now=now
        )
        rows.extend(written)
        if reason:
            unreached.append(Unreached(person.name, reason))
    with transaction.atomic():
        return _insert_new(rows, at_once=at_once), unreached


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
    outgoing = [
        Outgoing(person, obj, slot=slot, robot=robot, context=context, deadline=deadline)
        for person in recipients
    ]
    if not outgoing:
        return Notified()
    queued, unreached = _write(kind, outgoing, due_at=due_at or now, now=now)
    if enqueue and queued:
        transaction.on_commit(enqueue_due)
    return Notified(queued=queued, unreached=tuple(unreached))


def notify_each(
    kind: str,
    outgoing: Iterable[Outgoing],
    *,
    due_at: dt.datetime | None = None,
    enqueue: bool = True,
) -> int:
    """Queues every message of `outgoing` (best a generator over a queryset's `iterator()`: it
    is read CHUNK at a time), as `notify` does each. A reminder rule's way to queue thousands:
    the queries it costs grow with the chunks, not with the messages; logins fetched with
    `select_related("notification_preference")` bring their choice of channels along. Returns
    how many messages were newly queued; those no channel reaches are recorded but not listed
    (at city size they are tens of thousands, and nobody waits on a page to read them)."""
    now = timezone.now()
    outgoing = iter(outgoing)
    queued = 0
    while chunk := list(islice(outgoing, CHUNK)):
        queued += _write(kind, chunk, due_at=due_at or now, now=now, as_fetched=True)[0]
        # A chunk's members and their logins refer to each other (select_related fills both
        # sides of the one-to-one), so only the cycle collector frees them: without this, a
        # sweep with 10,000 due held every chunk it had read (3 MiB at 1,000, 16 MiB at 10,000).
        del chunk
        gc.collect()
    if enqueue and queued:
        transaction.on_commit(enqueue_due)
    return queued


def notify_all(
    kind: str,
    outgoing: Iterable[Outgoing],
    *,
    due_at: dt.datetime | None = None,
    enqueue: bool = True,
) -> int:
    """Queues every message of `outgoing` at once, as `notify_each` does chunk by chunk: for a
    fan-out that must be in the outbox within seconds (a call-out to every member reported in to
    a community, a few thousand). The statements it costs do not grow with the messages (one
    INSERT on PostgreSQL); the memory does, which a few thousand messages allow. Returns how
    many messages were newly queued."""
    now = timezone.now()
    outgoing = list(outgoing)
    if not outgoing:
        return 0
    queued = _write(kind, outgoing, due_at=due_at or now, now=now, as_fetched=True, at_once=True)[0]
    if enqueue and queued:
        transaction.on_commit(enqueue_due)
    return queued


def in_chunks(due, rows, *, size: int = CHUNK):
    """The rows of `rows` whose ids `due` selects, CHUNK at a time, in the order of their ids.
    The ids come first, in one query planned as a whole: read through a cursor instead,
    PostgreSQL plans for the first rows and may probe the outbox row by row, which took 15 s for
    5,000 members. Each chunk is then read by id, with whatever `rows` fetches alongside."""
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), size):
        yield from rows.filter(pk__in=ids[start : start + size]).order_by("pk")


def unsent(
    queryset,
    *,
    kind: str,
    about,
    object_id: str,
    recipient_key,
    slot,
    user: str,
    robot_url: str | None = None,
):
    """The rows of `queryset` — one per recipient and object — whose message of `kind` in `slot`
    is still to be queued: the outbox holds nothing under their key, or only the record that no
    channel reached them while one does now. The rest are left out in SQL, so that a rule run
    every minute reads and renders only what it still has to write.

    `about` is the model of the object the message is about and `object_id` the path to its id;
    `recipient_key` the SQL of the recipient's outbox key ("u<user id>" / "m<member id>"); `slot`
    a string or an SQL expression; `user` and `robot_url` the paths `reach.reachable` takes."""
    expression = hasattr(slot, "resolve_expression")
    queryset = queryset.annotate(
        outbox_key=recipient_key,
        outbox_reachable=reachable(user, robot_url),
        **({"outbox_slot": slot} if expression else {}),
    )
    already = Notification.objects.filter(
        kind=kind,
        recipient_key=OuterRef("outbox_key"),
        content_type=ContentType.objects.get_for_model(about),
        object_id=OuterRef(object_id),
        slot=OuterRef("outbox_slot") if expression else slot,
    )
    # One NOT EXISTS (an anti-join): a message already there, or a record of the unreachable
    # for one who still is.
    counts = ~Q(state=State.UNREACHABLE) | Q(Exact(OuterRef("outbox_reachable"), False))
    return queryset.exclude(Exists(already.filter(counts)))
