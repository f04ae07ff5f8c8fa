"""Which channels reach a person: their choice (NotificationPreference, or the defaults without
one) against what is possible (an e-mail address, a group robot where the message is about).

The rule is written twice, side by side: `channels_for` in Python, for the rows `notify` writes,
and `reachable` in SQL, so that a reminder rule can leave out in the database those already
recorded as unreachable who still are. tests/notifications/test_reach.py holds them equal.
"""

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Q, Value, When

from .models import Notification, NotificationPreference
from .recipients import Recipient, login_mobile_path

Channel, Unreachable = Notification.Channel, Notification.Unreachable

# Without a NotificationPreference row: the inbox, and e-mail when there is an address. Text
# messages cost money: only those who choose them get them.
DEFAULT_INAPP, DEFAULT_EMAIL, DEFAULT_WEBHOOK, DEFAULT_SMS = True, True, False, False


def channels_for(
    recipient: Recipient, preference, robot_url: str, *, urgent: bool = False
) -> tuple[list, str]:
    """(channel, address) pairs for one recipient, by their choice and what is possible; and when
    there are none, why (a Notification.Unreachable). An `urgent` message (a call-out) goes on
    every channel the person has (urgent_channels)."""
    if urgent:
        return urgent_channels(recipient, robot_url)
    user = recipient.user
    if user is None:
        # A member without a login can still be mentioned in the group chat.
        if robot_url:
            return [(Channel.WEBHOOK, robot_url)], ""
        return [], Unreachable.NO_LOGIN
    inapp = preference.inapp if preference else DEFAULT_INAPP
    email = preference.email if preference else DEFAULT_EMAIL
    webhook = preference.webhook if preference else DEFAULT_WEBHOOK
    sms = preference.sms if preference else DEFAULT_SMS
    channels = []
    if inapp:
        channels.append((Channel.INAPP, ""))
    if email and user.email:
        channels.append((Channel.EMAIL, user.email))
    if webhook and robot_url:
        channels.append((Channel.WEBHOOK, robot_url))
    if sms and recipient.mobile:
        channels.append((Channel.SMS, recipient.mobile))
    if channels:
        return channels, ""
    if email and webhook:
        return [], Unreachable.NO_ROBOT_NO_EMAIL
    if webhook:
        return [], Unreachable.NO_ROBOT
    if email:
        return [], Unreachable.NO_EMAIL
    if sms:
        return [], Unreachable.NO_MOBILE
    return [], Unreachable.NO_CHOICE


def urgent_channels(recipient: Recipient, robot_url: str) -> tuple[list, str]:
    """A call-out's channels: every one the person has, whatever they chose for reminders
    (issue 12: "on every channel they have") — the inbox of a login, e-mail when there is an
    address, a text message when there is a mobile, and the group robot when one posts the
    message (`robot_url`: the caller picks which, see activities.services.callouts). Only a
    person with none of these (no login, no mobile, no robot) is unreachable."""
    user = recipient.user
    channels = []
    if user is not None:
        channels.append((Channel.INAPP, ""))
        if user.email:
            channels.append((Channel.EMAIL, user.email))
    if robot_url:
        channels.append((Channel.WEBHOOK, robot_url))
    if recipient.mobile:
        channels.append((Channel.SMS, recipient.mobile))
    if channels:
        return channels, ""
    return [], Unreachable.NO_LOGIN


def reachable(user: str, robot_url: str | None = None) -> Case:
    """`channels_for` finds some channel, as an SQL boolean over the rows of a queryset: `user`
    is the path to the recipient's login (empty for a member without one), `robot_url` the path
    to the robot address of the community or agency whose robot would post the message."""
    robot = Q(**{f"{robot_url}__gt": ""}) if robot_url else None
    no_login = Q(**{f"{user}__isnull": True})
    preference = f"{user}__notification_preference"

    def chose(channel: str, default: bool) -> Q:
        chosen = Q(**{f"{preference}__{channel}": True})
        return chosen | Q(**{f"{preference}__isnull": True}) if default else chosen

    by_login = chose("inapp", DEFAULT_INAPP) | (
        chose("email", DEFAULT_EMAIL) & Q(**{f"{user}__email__gt": ""})
    )
    if robot is not None:
        by_login |= chose("webhook", DEFAULT_WEBHOOK) & robot
    mobile = login_mobile_path()
    if mobile:
        # The mobile of the login's person, where an app above knows one (members: a member's).
        by_login |= chose("sms", DEFAULT_SMS) & Q(**{f"{user}__{mobile}__gt": ""})
    whens = [When(no_login & robot, then=Value(True))] if robot is not None else []
    return Case(
        *whens,
        When(no_login, then=Value(False)),
        When(by_login, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def preferences_for(users, *, as_fetched: bool = False) -> dict:
    """{user id: NotificationPreference or None}, read in one query. With `as_fetched`, a login
    fetched with `select_related("notification_preference")` just now (a reminder rule's) keeps
    what came with it, and only the others are read."""
    cached = get_user_model().notification_preference.related
    known, unknown = {}, []
    for user in users:
        if as_fetched and cached.is_cached(user):
            known[user.pk] = cached.get_cached_value(user)
        else:
            unknown.append(user.pk)
    if unknown:
        known.update(dict.fromkeys(unknown))
        known.update(
            (p.user_id, p) for p in NotificationPreference.objects.filter(user_id__in=unknown)
        )
    return known
