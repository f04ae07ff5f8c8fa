"""Work updates (工作动态) and residents' concerns (民情).

Who may post: the community's staff and grid workers (and city administrators), members with an
ACTIVE report-in to the community, and members recorded present on the activity the post is
about ("those who took part"). Anyone else is refused.

A concern's states:

    open ──forward──▶ forwarded ──resolve──▶ resolved
      └─────────────resolve────────────────▲    │
    (forward again: another department)         │
    open/forwarded ◀──────────reopen────────────┘

Resolving needs a resolution note (the check constraint activities_concern_resolved_has_note).
Reopening exists because a fix may not hold, or the wrong concern was closed on a phone: the
concern goes back to "forwarded" when it had been forwarded, else to "open"; its earlier note
stays on the page until the next resolution replaces it, and its age still counts from the day
it was raised. Only managers (can_manage) change the state. The person who raised a concern is
told when it is forwarded and resolved; a grid's workers (else the community's staff) are told
when a member raises one. The concern a service returns carries `notified`: who was told, and
whom no channel reaches.

Each write takes `now`, when it happens (default: the clock), and the ones that tell people
take `tell`: the demo records its past with the story's moments and no messages, whose news is
old.
"""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community, StaffRole
from communities.permissions import any_of, can_manage, own, scope_of, via
from members.models import Member, Registration, member_of
from notifications.models import Notification
from notifications.notify import Notified, notify

from ..models import Activity, Concern, Participation, WorkUpdate

MANAGER_KINDS = (StaffRole.Kind.COMMUNITY_STAFF, StaffRole.Kind.GRID_WORKER)


def may_post(user, community: Community, activity: Activity | None = None) -> bool:
    """Whether `user` may post a work update or raise a concern in `community` (about
    `activity`, when given)."""
    if can_manage(user, community):
        return True
    member = member_of(user)
    if member is None or member.status != Member.Status.ACTIVE:
        return False
    if Registration.objects.reported_in().filter(member=member, community=community).exists():
        return True
    return (
        activity is not None
        and activity.community_id == community.pk
        and Participation.objects.filter(
            activity=activity, member=member, status=Participation.Status.PRESENT
        ).exists()
    )


def posting_communities(user):
    """The communities where `user` may post without naming an activity."""
    scope = scope_of(user)
    if scope.city:
        return Community.objects.all()
    # The viewer's own report-ins are found by the member record read with their roles: an
    # agency office or a street officer has none, and then asking where they may post costs no
    # query (a concern's or a work update's list asked it on every page, 1.4 ms at city size).
    return Community.objects.filter(
        any_of(
            via("pk__in", Registration.objects.reported_in().values("community"), **own(scope)),
            pk__in=scope.community_ids,
        )
    )


def concern_handlers(community: Community, *, including=None):
    """The people who may handle a concern of `community`: its staff and grid workers (and
    `including`, the one who acts, e.g. a city administrator)."""
    User = get_user_model()
    ids = StaffRole.objects.filter(community=community, kind__in=MANAGER_KINDS).values("user")
    if including is not None:
        # One list of ids, not the staff's OR the one who acts: ORed, PostgreSQL checked every
        # login of the city against both (10,000 at city size, four times a concern's page).
        ids = ids.order_by().union(User.objects.filter(pk=including.pk).values("pk"))
    return (
        User.objects.filter(pk__in=ids, is_active=True)
        .select_related("member")
        .order_by("username")
    )


def _check_activity(activity, community):
    if activity is not None and activity.community_id != community.pk:
        raise ValidationError({"activity": _("The activity must be one of this community's.")})


def _check_may_post(user, community, activity):
    if not may_post(user, community, activity):
        raise ValidationError(
            _(
                "Only the community's staff and grid workers, and members who reported in to "
                "%(community)s or took part in the activity, may post here."
            )
            % {"community": community.name}
        )


@transaction.atomic
def work_update_create(
    *,
    author,
    community: Community,
    body: str,
    activity: Activity | None = None,
    now: dt.datetime | None = None,
) -> WorkUpdate:
    """Posts a work update (工作动态) to `community`, about `activity` when given."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("Write what was done.")})
    _check_activity(activity, community)
    _check_may_post(author, community, activity)
    update = WorkUpdate.objects.create(
        community=community, activity=activity, author=author, body=body
    )
    _posted_at(update, now)
    return update


def _posted_at(note, now: dt.datetime | None) -> None:
    """Dates a new update or concern `now` when that is given: auto_now_add ignores a value
    passed on create."""
    if now is not None:
        type(note).objects.filter(pk=note.pk).update(created_at=now)
        note.created_at = now


def _tell(
    concern: Concern, recipients, *, kind: str, slot: str, tell: bool, context=None
) -> Notified:
    recipients = [user for user in recipients if user is not None]
    if not (tell and recipients):
        return Notified()
    return notify(
        kind=kind,
        recipients=recipients,
        obj=concern,
        context=context,
        slot=slot,
        robot=concern.community,
    )


def _grid_or_community_staff(concern: Concern):
    """Who hears of a new concern: the grid's workers, else the community's staff."""
    users = get_user_model().objects.filter(is_active=True)
    if concern.grid_id:
        grid_workers = list(
            users.filter(
                staff_roles__kind=StaffRole.Kind.GRID_WORKER,
                staff_roles__community=concern.community_id,
                staff_roles__grids=concern.grid_id,
            ).distinct()
        )
        if grid_workers:
            return grid_workers
    return list(
        users.filter(
            staff_roles__kind=StaffRole.Kind.COMMUNITY_STAFF,
            staff_roles__community=concern.community_id,
        ).distinct()
    )


@transaction.atomic
def concern_create(
    *,
    reported_by,
    community: Community,
    title: str,
    description: str = "",
    location: str = "",
    grid=None,
    activity: Activity | None = None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Concern:
    """Raises a residents' concern (民情) in `community`; a member's concern is passed on to the
    grid's workers (else the community's staff) at once."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": _("Give the concern a short title.")})
    if grid is not None and grid.community_id != community.pk:
        raise ValidationError({"grid": _("The grid must be one of this community's.")})
    _check_activity(activity, community)
    _check_may_post(reported_by, community, activity)
    concern = Concern.objects.create(
        community=community,
        grid=grid,
        activity=activity,
        title=title,
        description=(description or "").strip(),
        location=(location or "").strip(),
        reported_by=reported_by,
    )
    concern.notified = Notified()
    _posted_at(concern, now)
    if not can_manage(reported_by, community):
        recipients = [u for u in _grid_or_community_staff(concern) if u.pk != reported_by.pk]
        name = getattr(member_of(reported_by), "name", None) or reported_by.get_username()
        concern.notified = _tell(
            concern,
            recipients,
            kind=Notification.Kind.CONCERN_RAISED,
            slot="raised",
            tell=tell,
            context={"name": name},
        )
    return concern


def _locked(concern: Concern) -> Concern:
    """The row, re-read and locked: two people acting at once see each other's change."""
    return (
        Concern.objects.select_for_update(of=("self",))
        .select_related("community")
        .get(pk=concern.pk)
    )


def _check_manager(by, concern: Concern):
    if not can_manage(by, concern.community):
        raise ValidationError(_("Only the community's staff and grid workers handle concerns."))


def _handler(concern: Concern, by, handler):
    """The handler given, or the one who acts; either must be one of the community's people."""
    handler = handler or by
    if (
        handler.pk != by.pk
        and not concern_handlers(concern.community).filter(pk=handler.pk).exists()
    ):
        raise ValidationError(
            {"handler": _("The handler must be one of this community's staff or grid workers.")}
        )
    return handler


def _reporter_if_other(concern: Concern, by):
    return [concern.reported_by] if concern.reported_by_id != by.pk else []


@transaction.atomic
def concern_forward(
    *,
    concern: Concern,
    by,
    forwarded_to: str,
    handler=None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Concern:
    """Forwards an open (or already forwarded) concern to the department that can act on it,
    e.g. the street's urban management office (街道城管科)."""
    now = now or timezone.now()
    concern = _locked(concern)
    _check_manager(by, concern)
    if concern.state == Concern.State.RESOLVED:
        raise ValidationError(_("This concern is resolved; reopen it before forwarding it."))
    forwarded_to = (forwarded_to or "").strip()
    if not forwarded_to:
        raise ValidationError({"forwarded_to": _("Say where the concern was forwarded to.")})
    concern.handler = _handler(concern, by, handler)
    concern.state = Concern.State.FORWARDED
    concern.forwarded_to = forwarded_to
    concern.save(update_fields=["handler", "state", "forwarded_to"])
    concern.notified = _tell(
        concern,
        _reporter_if_other(concern, by),
        kind=Notification.Kind.CONCERN_FORWARDED,
        slot=f"forwarded-{now:%Y%m%d%H%M%S%f}",
        tell=tell,
    )
    return concern


@transaction.atomic
def concern_resolve(
    *,
    concern: Concern,
    by,
    resolution: str,
    handler=None,
    now: dt.datetime | None = None,
    tell: bool = True,
) -> Concern:
    """Resolves an open or forwarded concern; the resolution note says what was done."""
    now = now or timezone.now()
    concern = _locked(concern)
    _check_manager(by, concern)
    if concern.state == Concern.State.RESOLVED:
        raise ValidationError(_("This concern is already resolved."))
    resolution = (resolution or "").strip()
    if not resolution:
        # Checked here so the person sees this, not the database's constraint error.
        raise ValidationError(
            {"resolution": _("Write how it was resolved: a resolved concern needs a note.")}
        )
    concern.handler = _handler(concern, by, handler)
    concern.state = Concern.State.RESOLVED
    concern.resolution = resolution
    concern.resolved_at = now
    concern.save(update_fields=["handler", "state", "resolution", "resolved_at"])
    concern.notified = _tell(
        concern,
        _reporter_if_other(concern, by),
        kind=Notification.Kind.CONCERN_RESOLVED,
        slot=f"resolved-{concern.resolved_at:%Y%m%d%H%M%S%f}",
        tell=tell,
    )
    return concern


@transaction.atomic
def concern_reopen(*, concern: Concern, by) -> Concern:
    """Reopens a resolved concern: back to "forwarded" if it had been forwarded, else "open"."""
    concern = _locked(concern)
    _check_manager(by, concern)
    if concern.state != Concern.State.RESOLVED:
        raise ValidationError(_("Only a resolved concern can be reopened."))
    concern.state = Concern.State.FORWARDED if concern.forwarded_to else Concern.State.OPEN
    concern.resolved_at = None
    concern.save(update_fields=["state", "resolved_at"])
    concern.notified = Notified()  # nobody is told of a reopening
    return concern
