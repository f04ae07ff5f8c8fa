"""The outbox and each person's choice of channels."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Agency, Community
from communities.permissions import any_of, scope_of


def sms_cost_of(parts: int | None):
    """What a text message of `parts` billed parts cost (yuan): parts × SMS_PRICE_PER_PART."""
    if parts is None:
        return None
    return parts * Decimal(settings.SMS_PRICE_PER_PART)


class NotificationPreference(models.Model):
    """The channels a person wants their reminders on. Without a row: the in-app inbox, plus
    e-mail when the login has an address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
        verbose_name=_("user"),
    )
    inapp = models.BooleanField(_("in-app inbox"), default=True)
    email = models.BooleanField(_("e-mail"), default=True)
    webhook = models.BooleanField(
        _("group robot"),
        default=False,
        help_text=_("Mention me in the community's or agency's group chat."),
    )
    # Off unless chosen: a text message costs money (issue 12).
    sms = models.BooleanField(
        _("text message (SMS)"), default=False, help_text=_("To the mobile on my record.")
    )

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self):
        return str(self.user)


def _visible_branches(scope) -> list[Q]:
    """The branches of a scope that is not the city's, those that can match: the messages
    that concern the viewer's communities, their agency's members, and their own."""
    lookups = {
        "community__in": scope.place_community_ids,
        "agency__in": scope.agency_ids,
        "recipient": scope.user_id,
    }
    # An empty value is left out (as any_of does): `recipient=None` would match "IS NULL".
    return [Q(**{lookup: value}) for lookup, value in lookups.items() if value]


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A person's own messages; staff also see the messages that concern their community
        (those its group robot posts, or about its activities) or their agency's members."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        return self.filter(any_of(*_visible_branches(scope)))

    def counts_by_state(self, user) -> dict:
        """{state: number} of these messages that `user` sees (`visible_to`), in one query.

        Each branch of the scope counts the rows that no branch before it has: ORed, the
        branches were a bitmap of their indexes and every row was then read from the table
        for its state (an agency office's 17,000 of the city's 200,000, 20-30 ms); apart, the
        place's and the agency's rows are counted from their (column, state) index alone, and
        the viewer's own few through theirs."""
        scope = scope_of(user)
        rows = self.order_by()
        if scope.city:
            parts = [rows]
        else:
            parts, counted = [], []
            for branch in _visible_branches(scope):
                part = rows.filter(branch)
                parts.append(part.exclude(any_of(*counted)) if counted else part)
                counted.append(branch)
        if not parts:
            return {}
        grouped = [
            part.values("state").annotate(n=models.Count("*")).values_list("state", "n")
            for part in parts
        ]
        if len(grouped) == 1:
            return dict(grouped[0])
        counts = {}
        for state, number in grouped[0].union(*grouped[1:], all=True):
            counts[state] = counts.get(state, 0) + number
        return counts

    def inbox(self, user, **more):
        """The login's inbox messages (and `more` conditions, in the same filter): by the
        login's id, read once, not through request.user's lazy proxies at every step of
        building the query (the navbar's unread count is on every page)."""
        return self.filter(
            recipient=user.pk,
            channel=Notification.Channel.INAPP,
            state=Notification.State.SENT,
            **more,
        )

    def due(self, now):
        return self.filter(state=Notification.State.PENDING, due_at__lte=now)


class Notification(models.Model):
    """The outbox: one row per message, unique per (kind, recipient, object, slot, channel), so
    that a reminder is queued once however often the sweep runs, and claimed before it is
    sent so that a retry or a second worker never sends it again."""

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", _("Upcoming activity")
        ROLL_CALL_DUE = "roll_call_due", _("Roll call due")
        INACTIVITY = "inactivity", _("Inactivity nudge")
        AGENCY_DIGEST = "agency_digest", _("Agency weekly digest")
        DUTY_ROSTER = "duty_roster", _("Duty tomorrow")
        ACTIVITY_CHANGED = "activity_changed", _("Activity changed")
        ACTIVITY_CANCELLED = "activity_cancelled", _("Activity cancelled")
        REGISTRATION_APPROVED = "registration_approved", _("Report-in approved")
        REGISTRATION_RETURNED = "registration_returned", _("Report-in returned")
        LEAVE_DECIDED = "leave_decided", _("Leave decided")
        CONCERN_RAISED = "concern_raised", _("Resident concern raised")
        CONCERN_FORWARDED = "concern_forwarded", _("Resident concern forwarded")
        CONCERN_RESOLVED = "concern_resolved", _("Resident concern resolved")
        ACTIVATION = "activation", _("Activation link")
        MESSAGE = "message", _("Message")
        ATTENDANCE_DISPUTED = "attendance_disputed", _("Attendance record disputed")
        DISPUTE_ANSWERED = "dispute_answered", _("Dispute answered")
        SEAT_FREED = "seat_freed", _("Seat freed from the waitlist")
        NEED_CLAIMED = "need_claimed", _("Resident need claimed")
        NEED_DONE = "need_done", _("Resident need done")
        NEED_VERIFIED = "need_verified", _("Resident need verified")
        NEED_SENT_BACK = "need_sent_back", _("Resident need sent back")
        NEED_WITHDRAWN = "need_withdrawn", _("Resident need withdrawn")
        CALL_OUT = "call_out", _("Call-out")
        CALL_OUT_ESCALATED = "call_out_escalated", _("Call-out escalated")
        CALL_OUT_CLOSED = "call_out_closed", _("Call-out closed")

    # Urgent kinds (吹哨): sent at once whatever the quiet hours, on every channel the person has
    # (reach.channels_for with urgent=True).
    URGENT_KINDS = frozenset({"call_out", "call_out_escalated", "call_out_closed"})

    class Channel(models.TextChoices):
        INAPP = "inapp", _("In-app inbox")
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Group robot")
        SMS = "sms", _("Text message (SMS)")
        # The row of a message that no channel could carry (state UNREACHABLE).
        NONE = "none", _("No channel")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Nothing to send: no channel reaches the person (see `unreachable_reason`).
        UNREACHABLE = "unreachable", _("Unreachable")

    class Unreachable(models.TextChoices):
        """Why no channel reaches a person."""

        NO_LOGIN = "no_login", _("no login of their own, and no group robot to mention them in")
        NO_CHOICE = "no_choice", _("chose no channel at all")
        NO_ROBOT = "no_robot", _("chose only the group robot, and there is none here")
        NO_EMAIL = "no_email", _("chose only e-mail, and has no e-mail address")
        NO_MOBILE = "no_mobile", _("chose only text messages, and has no mobile on record")
        NO_ROBOT_NO_EMAIL = (
            "no_robot_email",
            _(
                "chose the group robot and e-mail, and there is neither a group robot here nor an "
                "e-mail address"
            ),
        )

    class Failure(models.TextChoices):
        """Why the last attempt failed, in words a person understands; `last_error` keeps the
        technical detail behind it."""

        ROBOT_UNREACHABLE = "robot_unreachable", _("The group robot could not be reached")
        ROBOT_TIMEOUT = "robot_timeout", _("The group robot did not answer in time")
        ROBOT_DROPPED = "robot_dropped", _("The group robot hung up without answering")
        ROBOT_REFUSED = "robot_refused", _("The group robot refused the message")
        ROBOT_REMOVED = "robot_removed", _("The group robot has been removed")
        MAIL_UNREACHABLE = "mail_unreachable", _("The mail server could not be reached")
        MAIL_TIMEOUT = "mail_timeout", _("The mail server did not answer in time")
        MAIL_DROPPED = "mail_dropped", _("The mail server hung up")
        MAIL_REFUSED = "mail_refused", _("The mail server refused the message")
        ADDRESS_REFUSED = "address_refused", _("The e-mail address was refused")
        SMS_UNREACHABLE = "sms_unreachable", _("The text message service could not be reached")
        SMS_TIMEOUT = "sms_timeout", _("The text message service did not answer in time")
        SMS_REFUSED = "sms_refused", _("The text message service refused the message")
        MOBILE_REFUSED = "mobile_refused", _("The mobile number was refused")
        OUT_OF_TIME = "out_of_time", _("Sending took too long and was stopped")
        OTHER = "other", _("Sending failed")

    class RobotOwner(models.TextChoices):
        COMMUNITY = "community", _("the community")
        AGENCY = "agency", _("the agency")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    state = models.CharField(_("state"), max_length=20, choices=State, default=State.PENDING)
    unreachable_reason = models.CharField(
        _("why unreachable"), max_length=20, choices=Unreachable, blank=True
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    # A member without a login has no user: name and mobile are what the group robot needs.
    recipient_name = models.CharField(_("recipient name"), max_length=100, blank=True)
    recipient_mobile = models.CharField(_("recipient mobile"), max_length=20, blank=True)
    community = models.ForeignKey(
        Community,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        # Indexed with the state (notification_community_state, Meta.indexes).
        db_index=False,
        verbose_name=_("community"),
        help_text=_("The community the message concerns; its staff see it in their outbox."),
    )
    agency = models.ForeignKey(
        Agency,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        # Indexed with the state (notification_agency_state, Meta.indexes).
        db_index=False,
        verbose_name=_("agency"),
        help_text=_("The agency of the person it is for; its party office sees it."),
    )
    # "u<user id>" or "m<member id>": the uniqueness key, since either FK may be empty.
    recipient_key = models.CharField(_("recipient key"), max_length=30, editable=False)
    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.CASCADE, verbose_name=_("about (type)")
    )
    object_id = models.PositiveBigIntegerField(_("about (id)"))
    slot = models.CharField(_("slot"), max_length=40, blank=True)
    address = models.CharField(
        _("address"), max_length=500, blank=True, help_text=_("E-mail address or robot URL.")
    )
    robot_kind = models.CharField(_("group robot kind"), max_length=10, blank=True)
    # The robot's address is read from its owner when the message is sent, so a robot changed
    # or removed after queueing is honoured; address and robot_kind then record what was used.
    robot_owner = models.CharField(
        _("group robot of"),
        max_length=10,
        choices=RobotOwner,
        blank=True,
        help_text=_("Whose group robot posts it: the community's or the agency's above."),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    url = models.CharField(_("link"), max_length=300, blank=True)
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    failure = models.CharField(_("reason"), max_length=20, choices=Failure, blank=True)
    last_error = models.TextField(_("technical detail"), blank=True)
    enqueued_at = models.DateTimeField(_("handed to a worker at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # A text message's billed parts (计费条数), as the provider counted them: its cost is
    # parts × SMS_PRICE_PER_PART.
    sms_parts = models.PositiveSmallIntegerField(_("billed text messages"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued at"), default=timezone.now)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "recipient_key", "content_type", "object_id", "slot", "channel"],
                name="notifications_notification_once",
                violation_error_message=_("This message has already been queued."),
            ),
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | ~Q(recipient_name=""),
                name="notifications_notification_has_recipient",
                violation_error_message=_("A notification needs a recipient."),
            ),
            # An unreachable message says why; any other says nothing of the kind.
            models.CheckConstraint(
                condition=(Q(state="unreachable", channel="none") & ~Q(unreachable_reason=""))
                | (~Q(state="unreachable") & ~Q(channel="none") & Q(unreachable_reason="")),
                name="notifications_notification_unreachable_has_reason",
                violation_error_message=_(
                    "An unreachable message has no channel and says why; a message with a "
                    "channel is not unreachable."
                ),
            ),
        ]
        indexes = [
            # "pending messages that are due": every sweep.
            models.Index(fields=["state", "due_at"], name="notification_due"),
            # "my unread messages": the bell on every page.
            models.Index(fields=["recipient", "channel", "read_at"], name="notification_inbox"),
            # "newest first" (-created_at, -pk, Meta.ordering): the outbox and the admin
            # changelist, read in index order.
            models.Index(fields=["created_at", "id"], name="notification_newest"),
            # "the outbox's counts per state" of a community's, a street's (its communities')
            # and an agency office's messages (counts_by_state), from the index alone; and
            # every other lookup by the community or the agency, as the foreign keys' own
            # indexes served.
            models.Index(fields=["community", "state"], name="notification_community_state"),
            models.Index(fields=["agency", "state"], name="notification_agency_state"),
        ]

    def __str__(self):
        return self.subject

    def get_absolute_url(self):
        return self.url or reverse("reports:dashboard")

    @property
    def sms_cost(self):
        """What the text message cost (yuan): its billed parts × SMS_PRICE_PER_PART."""
        return sms_cost_of(self.sms_parts)
