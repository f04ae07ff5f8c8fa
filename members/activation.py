"""Activation (激活): the login an office creates for a member, and the one-time link with which
the member sets its password.

Only a SHA-256 hash of a link's token is stored; the token itself is in the link the office sends
(through the agency's group robot, or e-mail) or prints on a slip, and nowhere else. A link is
valid for ACTIVATION_DAYS; issuing a new one revokes the member's previous one; using it is one
conditional UPDATE, so two submissions of the same link at once set one password, not two. No
password is ever chosen, shown or printed by anyone but the member.
"""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications.models import Notification
from notifications.notify import Notified, absolute_url, notify
from notifications.recipients import Recipient

from .models import ActivationLink, Member

ACTIVATION_DAYS = 14


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    """A link just issued, with its token: the one moment the link can be read."""

    link: ActivationLink
    token: str

    @property
    def member(self) -> Member:
        return self.link.member

    @property
    def path(self) -> str:
        return reverse("members:activate", args=[self.token])

    @property
    def url(self) -> str:
        return absolute_url(self.path)


class InvalidLink(Exception):
    """The token is unknown, used, revoked or expired: all look the same from outside."""


def username_for(member: Member) -> str:
    """The login's username: the member's mobile, which they know and type easily; when a
    login already has it (the same person on two agencies' rosters), the mobile with the
    member's id."""
    User = get_user_model()
    if not User.objects.filter(username=member.mobile).exists():
        return member.mobile
    return f"{member.mobile}-{member.pk}"


def member_login_create(*, member: Member):
    """The member's login, created with an unusable password when they have none (a locked
    member row). Returns the login."""
    if member.user_id:
        return member.user
    user = get_user_model()(username=username_for(member), first_name=member.name[:150])
    user.set_unusable_password()
    user.save()
    Member.objects.filter(pk=member.pk).update(user=user)
    member.user = user
    return user


@transaction.atomic
def activation_issue(*, member: Member, by, now: dt.datetime | None = None) -> Issued:
    """A new activation link for `member` (their login created first if need be); the live link
    they had is revoked. Refused for a member who left the agency or whose login is already in
    use (it has a password: they sign in, or reset it)."""
    now = now or timezone.now()
    # Only the member's row is locked (the login is an outer join, which FOR UPDATE refuses).
    member = (
        Member.objects.select_for_update(of=("self",))
        .select_related("agency", "user")
        .get(pk=member.pk)
    )
    if member.status != Member.Status.ACTIVE:
        raise ValidationError(
            _("%(name)s has left the agency: no activation link."),
            code="left",
            params={"name": member.name},
        )
    if member.user_id and member.user.has_usable_password():
        raise ValidationError(
            _("%(name)s has already set a password and signs in with it."),
            code="active_login",
            params={"name": member.name},
        )
    member_login_create(member=member)
    ActivationLink.objects.filter(member=member).live().update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    link = ActivationLink.objects.create(
        member=member,
        token_hash=token_hash(token),
        issued_at=now,
        issued_by=by,
        expires_at=now + dt.timedelta(days=ACTIVATION_DAYS),
    )
    return Issued(link=link, token=token)


@transaction.atomic
def activation_send(
    *, member: Member, by, now: dt.datetime | None = None
) -> tuple[Issued, Notified]:
    """Issues a new link and queues it to the member: through their agency's group robot (which
    @-mentions their mobile), and by e-mail where their login has an address. Returns the link
    and what was queued (nothing when neither reaches them: then print a slip)."""
    issued = activation_issue(member=member, by=by, now=now)
    return issued, _queue(issued)


def _queue(issued: Issued) -> Notified:
    member = issued.member
    link = issued.link
    context = {
        "name": member.name,
        "agency": member.agency.short_name or member.agency.name,
        "expires": timezone.localtime(link.expires_at).date(),
        "url": issued.url,
    }
    # Keyed as the member (not their login, which cannot sign in yet): the robot mentions them.
    recipients = [
        Recipient(
            key=f"m{member.pk}", name=member.name, mobile=member.mobile, agency_id=member.agency_id
        )
    ]
    notified = Notified()
    if member.agency.robot_webhook_url:
        notified += notify(
            kind=Notification.Kind.ACTIVATION,
            recipients=recipients,
            obj=link,
            context=context,
            robot=member.agency,
        )
    if member.user.email:
        notified += notify(
            kind=Notification.Kind.ACTIVATION,
            recipients=[member.user],
            obj=link,
            context=context,
        )
    return notified


@transaction.atomic
def activation_revoke(*, member: Member, by, now: dt.datetime | None = None) -> int:
    """Revokes the member's live link; returns how many were revoked (0 or 1)."""
    return (
        ActivationLink.objects.filter(member=member).live().update(revoked_at=now or timezone.now())
    )


def activation_find(token: str, now: dt.datetime | None = None) -> ActivationLink:
    """The usable link of `token` with its member and login, or InvalidLink."""
    link = (
        ActivationLink.objects.usable(now or timezone.now())
        .select_related("member__user", "member__agency")
        .filter(token_hash=token_hash(token), member__status=Member.Status.ACTIVE)
        .first()
    )
    if link is None or link.member.user is None:
        raise InvalidLink
    return link


@transaction.atomic
def activation_use(*, token: str, password: str, now: dt.datetime | None = None):
    """Sets the password of the link's login and marks the link used, once: the UPDATE claims
    the link only while it is still usable, so of two submissions at once one wins and the other
    gets InvalidLink. `password` has passed the password validators (SetPasswordForm). Returns
    the login."""
    now = now or timezone.now()
    link = activation_find(token, now)
    claimed = ActivationLink.objects.usable(now).filter(pk=link.pk).update(used_at=now)
    if not claimed:
        raise InvalidLink
    user = link.member.user
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    return user
