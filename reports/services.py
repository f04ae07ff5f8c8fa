"""The annual evaluation's writes (年度评价): a community's staff rate the members reported in to
them, one or a page at a time; a member objects (异议) to a rating; the staff answer, keeping or
changing it. Every change is kept in the rating's history, with who and when.

Scope: only members reported in to the rating community (an approved report-in, the member still
with their agency) are rated, and only by that community's staff; a submission naming anyone
else is refused whole, with nothing written. 优秀 is capped at a share of the members the
community rated for the year (settings.EVALUATION_EXCELLENT_SHARE): a save that would pass it is
refused whole too.
"""

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from communities.models import Community, StaffRole
from communities.permissions import can_evaluate
from communities.validators import FIRST_YEAR
from members.models import Member, Registration
from notifications.models import Notification
from notifications.notify import Notified, notify

from .models import Evaluation, EvaluationObjection

Rating = Evaluation.Rating
COMMENT_LENGTH = Evaluation._meta.get_field("comment").max_length
REASON_LENGTH = EvaluationObjection._meta.get_field("reason").max_length
# The most members one save rates: a page of the list, with room to spare.
MAX_BULK = 200


class HistoryReason:
    """What a version of a rating came from (its history's reason)."""

    RATED = "rated"
    OBJECTION_ANSWERED = "objection answered"

    LABELS = {RATED: _("Rated"), OBJECTION_ANSWERED: _("Changed in answer to an objection")}

    @classmethod
    def label(cls, code) -> str:
        return str(cls.LABELS.get(code, code or ""))


def excellent_share() -> Fraction:
    return Fraction(settings.EVALUATION_EXCELLENT_SHARE)


def share_label(share: Fraction | None = None) -> str:
    """The share as people write it: "1/3", "30%"."""
    share = share if share is not None else excellent_share()
    if (share * 100).denominator == 1:
        return f"{share * 100}%"
    return f"{share.numerator}/{share.denominator}"


def excellent_allowed(rated: int, share: Fraction | None = None) -> int:
    """How many of `rated` members may be excellent: the share of them, rounded down."""
    share = share if share is not None else excellent_share()
    return math.floor(share * rated)


def rateable_members(community):
    """The members `community` rates: those reported in to it (Registration.reported_in: an
    approved report-in of either kind, the member still with their agency)."""
    return Member.objects.reported_in_to(community)


def rateable_count(community) -> int:
    """How many members `community` rates, counted on its report-ins alone (read from the
    index registration_community_member): counted on the members, 7 ms of a city's 60,000
    were probed or hashed for a community's 3,800."""
    return (
        Registration.objects.reported_in()
        .filter(community=community)
        .order_by()
        .values("member")
        .distinct()
        .count()
    )


def check_year(year, today: dt.date | None = None) -> int:
    """A year that can be rated: from the first year the app knows to this one."""
    today = today or timezone.localdate()
    try:
        year = int(year)
    except (TypeError, ValueError):
        year = None
    if year is None or not FIRST_YEAR <= year <= today.year:
        raise ValidationError(
            _("Choose a year between %(first)s and %(last)s."),
            params={"first": FIRST_YEAR, "last": today.year},
        )
    return year


@dataclass(frozen=True)
class Saved:
    created: int = 0
    changed: int = 0

    @property
    def count(self) -> int:
        return self.created + self.changed


def _lock_community(community) -> None:
    # Ratings of one community are saved one save at a time, so that two saves at once cannot
    # pass the cap together (on SQLite the IMMEDIATE transaction already does this).
    list(Community.objects.select_for_update().filter(pk=community.pk).values_list("pk"))


def _check_cap(*, community, year, ratings: Mapping[int, str]) -> None:
    """Refuses `ratings` (member id → rating, replacing theirs) when they would rate more
    members excellent than the share allows of those the community rated for the year."""
    others = (
        Evaluation.objects.filter(community=community, year=year)
        .exclude(member__in=list(ratings))
        .aggregate(rated=Count("pk"), excellent=Count("pk", filter=Q(rating=Rating.EXCELLENT)))
    )
    rated = others["rated"] + len(ratings)
    excellent = others["excellent"] + sum(
        1 for rating in ratings.values() if rating == Rating.EXCELLENT
    )
    allowed = excellent_allowed(rated)
    if excellent > allowed:
        raise ValidationError(
            _(
                "At most %(share)s of the members rated may be rated excellent: %(rated)d rated "
                "for %(year)d allow %(allowed)d, and this would make %(excellent)d. Nothing was "
                "saved."
            ),
            code="excellent_cap",
            params={
                "share": share_label(),
                "rated": rated,
                "year": year,
                "allowed": allowed,
                "excellent": excellent,
            },
        )


def _clean(ratings: Mapping) -> dict[int, tuple[str, str]]:
    cleaned = {}
    for member_id, (rating, comment) in ratings.items():
        if rating not in Rating.values:
            raise ValidationError(_("Choose one of the four ratings."), code="rating")
        # NUL is no character of a comment, and PostgreSQL refuses to store it.
        comment = (comment or "").replace("\x00", "").strip()
        if len(comment) > COMMENT_LENGTH:
            raise ValidationError(
                _("A comment is at most %(length)d characters."),
                code="comment",
                params={"length": COMMENT_LENGTH},
            )
        cleaned[int(member_id)] = (rating, comment)
    return cleaned


@transaction.atomic
def evaluations_save(
    *,
    by,
    community,
    year: int | str | None,
    ratings: Mapping[int, tuple[str, str]],
    now: dt.datetime | None = None,
    reason: str = HistoryReason.RATED,
) -> Saved:
    """Rates members for `year`: `ratings` maps a member id to (rating, comment). All or
    nothing: a member not reported in to `community`, a rating not one of the four, or more
    excellent ratings than the cap allows refuse the whole save. Returns what was written;
    a rating saved unchanged writes nothing."""
    now = now or timezone.now()
    if not can_evaluate(by, community):
        raise ValidationError(_("Only the community's staff rate its members."), code="scope")
    year = check_year(year, timezone.localtime(now).date())
    ratings = _clean(ratings)
    if not ratings:
        return Saved()
    if len(ratings) > MAX_BULK:
        raise ValidationError(_("Too many members at once."), code="bulk")
    _lock_community(community)
    ids = set(ratings)
    found = set(rateable_members(community).filter(pk__in=ids).values_list("pk", flat=True))
    if found != ids:
        raise ValidationError(
            _("Some of these members are not reported in to your community; nothing was saved."),
            code="scope",
        )
    _check_cap(
        community=community, year=year, ratings={pk: rating for pk, (rating, _c) in ratings.items()}
    )
    existing = {
        evaluation.member_id: evaluation
        for evaluation in Evaluation.objects.select_for_update().filter(
            community=community, year=year, member__in=ids
        )
    }
    new, changed = [], []
    for member_id, (rating, comment) in sorted(ratings.items()):
        evaluation = existing.get(member_id)
        if evaluation is None:
            new.append(
                Evaluation(
                    member_id=member_id,
                    community=community,
                    year=year,
                    rating=rating,
                    comment=comment,
                    rated_by=by,
                    rated_at=now,
                )
            )
        elif (evaluation.rating, evaluation.comment) != (rating, comment):
            evaluation.rating, evaluation.comment = rating, comment
            evaluation.rated_by, evaluation.rated_at = by, now
            changed.append(evaluation)
    if new:
        bulk_create_with_history(
            new, Evaluation, default_user=by, default_change_reason=reason, default_date=now
        )
    if changed:
        bulk_update_with_history(
            changed,
            Evaluation,
            ["rating", "comment", "rated_by", "rated_at"],
            default_user=by,
            default_change_reason=reason,
            default_date=now,
        )
    return Saved(created=len(new), changed=len(changed))


def _community_staff(community_id):
    """The community's staff: who answer its members' objections."""
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            staff_roles__kind=StaffRole.Kind.COMMUNITY_STAFF,
            staff_roles__community=community_id,
        )
        .distinct()
    )


def _message(subject, body, url) -> dict:
    """A message's text in the site's language, whoever's request is active."""
    with translation.override(settings.LANGUAGE_CODE):
        return {"subject": str(subject), "body": str(body), "url": url}


@transaction.atomic
def objection_raise(
    *, by, evaluation: Evaluation, reason: str, now: dt.datetime | None = None, tell: bool = True
) -> EvaluationObjection:
    """A member objects to their own rating (异议), with a reason; the community's staff are
    told. One objection at a time: the next once the last is answered."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why you object to the rating.")})
    if len(reason) > REASON_LENGTH:
        raise ValidationError(
            {"reason": _("At most %(length)d characters.") % {"length": REASON_LENGTH}}
        )
    locked = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("member", "community")
        .filter(pk=evaluation.pk, member__user=by)
        .first()
    )
    if locked is None:
        raise ValidationError(_("This rating is not yours to object to."))
    if locked.objections.open().exists():
        raise ValidationError(_("Your last objection has not been answered yet."))
    objection = EvaluationObjection.objects.create(
        evaluation=locked,
        reason=reason,
        raised_by=by,
        raised_at=now,
        rating_before=locked.rating,
    )
    objection.notified = Notified()
    recipients = _community_staff(locked.community_id)
    if tell and recipients:
        objection.notified = notify(
            kind=Notification.Kind.MESSAGE,
            recipients=recipients,
            obj=objection,
            slot="raised",
            context=_message(
                _("Objection to a rating: %(name)s") % {"name": locked.member.name},
                _("%(name)s objects to their %(year)d rating (%(rating)s): %(reason)s")
                % {
                    "name": locked.member.name,
                    "year": locked.year,
                    "rating": locked.get_rating_display(),
                    "reason": reason,
                },
                reverse("reports:objection_answer", args=[objection.pk]),
            ),
        )
    return objection


@transaction.atomic
def objection_answer(
    *,
    by,
    objection: EvaluationObjection,
    answer: str,
    rating: str | None = None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> EvaluationObjection:
    """The community's staff answer an objection: explain the rating, or change it (`rating`,
    within the cap, kept in the rating's history). The member is told."""
    now = now or timezone.now()
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError({"answer": _("Explain the rating, or what you changed.")})
    if len(answer) > REASON_LENGTH:
        raise ValidationError(
            {"answer": _("At most %(length)d characters.") % {"length": REASON_LENGTH}}
        )
    locked = (
        EvaluationObjection.objects.select_for_update(of=("self",))
        .select_related("evaluation__community", "evaluation__member__user")
        .filter(pk=objection.pk)
        .first()
    )
    if locked is None or not can_evaluate(by, locked.evaluation.community):
        raise ValidationError(_("Only the community's staff answer objections to its ratings."))
    if locked.answered_at is not None:
        raise ValidationError(_("This objection is answered already."))
    evaluation = locked.evaluation
    rating = rating or evaluation.rating
    if rating != evaluation.rating:
        evaluations_save(
            by=by,
            community=evaluation.community,
            year=evaluation.year,
            ratings={evaluation.member_id: (rating, evaluation.comment)},
            now=now,
            reason=HistoryReason.OBJECTION_ANSWERED,
        )
        evaluation.refresh_from_db()
    locked.answer = answer
    locked.rating_after = evaluation.rating
    locked.answered_by, locked.answered_at = by, now
    locked.save(update_fields=["answer", "rating_after", "answered_by", "answered_at"])
    locked.notified = Notified()
    member = evaluation.member
    if tell:
        locked.notified = notify(
            kind=Notification.Kind.MESSAGE,
            recipients=[member.user if member.user_id else member.as_recipient()],
            obj=locked,
            slot="answered",
            context=_message(
                _("Your objection is answered"),
                _(
                    "%(community)s answered your objection to your %(year)d rating "
                    "(now %(rating)s): %(answer)s"
                )
                % {
                    "community": evaluation.community.name,
                    "year": evaluation.year,
                    "rating": evaluation.get_rating_display(),
                    "answer": answer,
                },
                reverse("reports:evaluations_mine"),
            ),
        )
    return locked
