"""Emergency call-outs (吹哨报到): a community (or its street) calls for people at short notice;
every member reported in there is asked at once and answers with one tap from the message
(activities.services.callouts)."""

import datetime as dt
import functools

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import Q
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from communities.links import id_url
from communities.models import Agency, Agreement, Community, Grid
from communities.permissions import any_of, own, scope_of, via
from members.models import Member

from .activity import Activity

# A call's need: bounded so that a typo never asks a whole district.
MAX_NEEDED = 500


def escalate_after() -> dt.timedelta:
    """How long an unfilled call waits before each escalation (CALLOUT_ESCALATE_MINUTES)."""
    return dt.timedelta(minutes=settings.CALLOUT_ESCALATE_MINUTES)


class CallOutQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The calls of the communities the viewer works in or oversees (street); the calls
        escalated to the viewer's agency office (an agreement in force in the community); and
        those the viewer was called to."""
        scope = scope_of(user)
        if scope.city:
            return self.all()
        in_force = Agreement.objects.in_force().filter(agency__in=scope.agency_ids)
        return self.filter(
            any_of(
                via(
                    "pk__in",
                    self.model.objects.filter(escalation_level__gte=CallOut.Level.OFFICES).values(
                        "pk"
                    ),
                    community__in=in_force.values("community") if scope.agency_ids else None,
                ),
                via(
                    "pk__in",
                    CallOutAnswer.objects.values("call"),
                    **own(scope),
                ),
                community__in=scope.place_community_ids,
            )
        )

    def open(self):
        return self.filter(state=CallOut.State.OPEN)

    def due_to_escalate(self, now):
        """Open calls, not yet over, whose need has waited CALLOUT_ESCALATE_MINUTES since they
        were raised (→ the agency offices) or since that escalation (→ the street)."""
        before = now - escalate_after()
        return self.filter(state=CallOut.State.OPEN, ends_at__gt=now).filter(
            Q(escalation_level=CallOut.Level.NONE, created_at__lte=before)
            | Q(escalation_level=CallOut.Level.OFFICES, escalated_at__lte=before)
        )


class CallOut(models.Model):
    """吹哨: a call for `needed` people at `place` between `starts_at` and `ends_at`, to the
    members reported in to `community` (of `grids`, or all). Those coming are signed up to its
    `activity`, so roll call and figures follow."""

    class State(models.TextChoices):
        OPEN = "open", pgettext_lazy("call-out", "Open")
        FILLED = "filled", _("Filled")
        CANCELLED = "cancelled", _("Cancelled")

    class Level(models.IntegerChoices):
        NONE = 0, _("Not escalated")
        OFFICES = 1, _("Escalated to the agency offices")
        STREET = 2, _("Escalated to the street")

    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, related_name="call_outs", verbose_name=_("community")
    )
    # One street officer's call to several communities: one call each, sharing this key.
    batch = models.CharField(_("raised together as"), max_length=32, blank=True, db_index=True)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="raised_call_outs",
        verbose_name=pgettext_lazy("call-out", "raised by"),
    )
    title = models.CharField(_("what"), max_length=100)
    description = models.TextField(_("details"), blank=True)
    place = models.CharField(_("place"), max_length=100)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    needed = models.PositiveSmallIntegerField(_("people needed"))
    grids = models.ManyToManyField(
        Grid,
        blank=True,
        related_name="call_outs",
        verbose_name=_("grids"),
        help_text=_("Leave empty to call every member reported in to the community."),
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.OPEN)
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation"), choices=Level, default=Level.NONE
    )
    escalated_at = models.DateTimeField(_("escalated to the offices at"), null=True, blank=True)
    escalated_to_street_at = models.DateTimeField(
        _("escalated to the street at"), null=True, blank=True
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    activity = models.OneToOneField(
        Activity,
        on_delete=models.PROTECT,
        related_name="call_out",
        verbose_name=_("activity"),
    )
    created_at = models.DateTimeField(pgettext_lazy("call-out", "raised at"), default=timezone.now)

    history = HistoricalRecords(
        verbose_name=_("historical call-out"),
        verbose_name_plural=_("historical call-outs"),
    )
    objects = CallOutQuerySet.as_manager()

    class Meta:
        verbose_name = _("call-out")
        verbose_name_plural = _("call-outs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(needed__gte=1, needed__lte=MAX_NEEDED),
                name="activities_callout_needed_in_range",
                violation_error_message=_("A call needs between 1 and 500 people."),
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="activities_callout_ends_after_start",
                violation_error_message=_("A call must end after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(state="open", closed_at__isnull=True)
                | (~Q(state="open") & Q(closed_at__isnull=False)),
                name="activities_callout_closed_has_time",
                violation_error_message=_("A closed call has the time it closed."),
            ),
        ]
        indexes = [
            # "open calls due to escalate": the beat task every minute.
            models.Index(fields=["state", "escalation_level"], name="callout_open_level"),
            # "this community's calls, newest first": the list of calls.
            models.Index(fields=["community", "created_at"], name="callout_community_new"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return id_url("activities:callout_detail", self.pk)

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    def closed_reason(self, now=None) -> str | None:
        """Why answers are no longer taken, or None while they are: open until filled,
        cancelled or over."""
        now = now or timezone.now()
        if self.state == self.State.FILLED:
            return _("This call is filled: enough people are coming. Thank you!")
        if self.state == self.State.CANCELLED:
            return _("This call was cancelled.")
        if self.ends_at <= now:
            return _("This call is over.")
        return None


class CallOutAnswer(models.Model):
    """One member called: their answer (马上到 / 来不了 / 未响应), and who called them."""

    class Answer(models.TextChoices):
        PENDING = "pending", _("No answer yet")
        COMING = "coming", _("Coming")
        CANNOT = "cannot", _("Cannot come")

    class AddedBy(models.TextChoices):
        COMMUNITY = "community", _("the community")
        AGENCY = "agency", _("an agency office")
        STREET = "street", _("the street")

    call = models.ForeignKey(
        CallOut, on_delete=models.CASCADE, related_name="answers", verbose_name=_("call-out")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="call_out_answers", verbose_name=_("member")
    )
    answer = models.CharField(
        pgettext_lazy("call-out", "answer"), max_length=10, choices=Answer, default=Answer.PENDING
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    answered_at = models.DateTimeField(
        pgettext_lazy("call-out", "answered at"), null=True, blank=True
    )
    added_by = models.CharField(
        _("called by"), max_length=10, choices=AddedBy, default=AddedBy.COMMUNITY
    )
    # The office that sent them, for those an agency office added after an escalation.
    agency = models.ForeignKey(
        Agency,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by the office of"),
    )
    created_at = models.DateTimeField(_("called at"), default=timezone.now)

    history = HistoricalRecords(
        verbose_name=_("historical call-out answer"),
        verbose_name_plural=_("historical call-out answers"),
    )

    class Meta:
        verbose_name = _("call-out answer")
        verbose_name_plural = _("call-out answers")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "member"],
                name="activities_calloutanswer_once",
                violation_error_message=_("This member has been called already."),
            ),
            models.CheckConstraint(
                condition=Q(answer="pending", answered_at__isnull=True)
                | (~Q(answer="pending") & Q(answered_at__isnull=False)),
                name="activities_calloutanswer_answered_has_time",
                violation_error_message=_("An answer has the time it was given."),
            ),
        ]
        indexes = [
            # "the calls a member was called to": their open calls, and the scope's branch.
            models.Index(fields=["member", "call"], name="calloutanswer_member"),
            # "how the answers stand": the live page's counts.
            models.Index(fields=["call", "answer"], name="calloutanswer_call_answer"),
        ]

    def __str__(self):
        return f"{self.call} · {self.member}"

    def get_absolute_url(self):
        """The member's personal answer link (no sign-in needed)."""
        return answer_path(answer_token(self.pk))


# The answer link names the answer, signed with a salt of its own. The signature is cut to 16
# characters (96 bits) so that the link fits a text message; a forged one is turned away at a
# rate-limited door.
ANSWER_SALT = "activities.call-out-answer"


class _ShortSigner(signing.Signer):
    def signature(self, value, key=None):
        return super().signature(value, key)[:16]


@functools.cache
def _answer_path_parts(prefix: str) -> tuple[str, str]:
    # Reversed once per URL prefix: a call renders thousands of links at once.
    head, tail = reverse("activities:callout_answer", args=["TOKEN"]).split("TOKEN")
    return head, tail


def answer_path(token: str) -> str:
    head, tail = _answer_path_parts(get_script_prefix())
    return f"{head}{token}{tail}"


def answer_token(answer_id: int) -> str:
    return _ShortSigner(salt=ANSWER_SALT).sign(_b62(answer_id))


def answer_id_of(token: str) -> int | None:
    """The answer a token names, or None for anything Xiachen did not sign."""
    if not isinstance(token, str) or len(token) > 40:
        return None
    try:
        value = _ShortSigner(salt=ANSWER_SALT).unsign(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        return None
    try:
        return signing.b62_decode(value) if value else None
    except (ValueError, KeyError):
        return None


def _b62(number: int) -> str:
    return signing.b62_encode(number)
