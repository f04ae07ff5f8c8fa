"""Who a message is for. The outbox knows logins; other apps turn their people into a
`Recipient` (members do, through `Member.as_recipient()`), so that notifications never needs to
know what a member is."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import CharField, Exists, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from communities.models import Agency, Community
from communities.permissions import any_of, scope_of

from .models import Notification


@dataclass(frozen=True)
class Recipient:
    # "u<user id>" for a login, "m<member id>" for a member without one: the outbox's unique key.
    key: str
    user: Any = None
    name: str = ""
    # For the group robot's @-mention: a person without a login is reached only there.
    mobile: str = ""
    agency_id: int | None = None


def login_key_sql(path: str):
    """A login's outbox key ("u<user id>") in SQL, for the login at `path`."""
    return Concat(Value("u"), Cast(path, CharField()), output_field=CharField())


def recipient_of(person) -> Recipient:
    """A User, a Recipient, or anything with `as_recipient()`, as a Recipient."""
    if isinstance(person, Recipient):
        return person
    if isinstance(person, get_user_model()):
        return Recipient(
            key=f"u{person.pk}", user=person, name=person.get_full_name() or person.get_username()
        )
    as_recipient = getattr(person, "as_recipient", None)
    if as_recipient is None:
        raise TypeError(f"cannot notify {person!r}")
    return as_recipient()


# Apps above this one know more about some logins than notifications does (members: a member's
# login has the member's name, mobile and agency; its agency's office sees its messages), and
# more places whose group robot may post to one (the member's agency, the communities they
# reported in to). notifications may not import them, so each registers its functions here from
# its AppConfig.ready.
_login_resolvers: list[Callable[[list], dict]] = []
# The path from a login to its person's mobile (members: "member__mobile"), for the SQL of who
# a text message reaches (reach.reachable); empty while no app knows one.
_login_mobile_paths: list[str] = []
_robot_finders: list[Callable[[Any], QuerySet]] = []


def register_login_resolver(resolver: Callable[[list], dict]) -> None:
    """Adds `resolver(users) -> {user id: Recipient}` for the logins that app knows more about."""
    if resolver not in _login_resolvers:
        _login_resolvers.append(resolver)


def register_login_mobile_path(path: str) -> None:
    """Names the path from a login to its person's mobile, as the registered login resolver
    fills Recipient.mobile: reach.reachable asks it in SQL."""
    if path not in _login_mobile_paths:
        _login_mobile_paths.append(path)


def login_mobile_path() -> str:
    return _login_mobile_paths[0] if _login_mobile_paths else ""


def recipients_of(people) -> list[Recipient]:
    """`recipient_of` for each of `people`; logins are looked up in bulk by the registered
    resolvers, so that a member's login is named, and scoped, as that member."""
    people = list(people)
    user_model = get_user_model()
    users = [person for person in people if isinstance(person, user_model)]
    known = {}
    for resolver in _login_resolvers if users else ():
        known.update(resolver(users))

    def one(person):
        if isinstance(person, user_model) and person.pk in known:
            return known[person.pk]
        return recipient_of(person)

    return [one(person) for person in people]


def register_robot_finder(finder: Callable[[Any], QuerySet]) -> None:
    """Adds `finder(user) -> QuerySet`: rows that exist when a group robot posts where that app
    places `user` (asked as one EXISTS among the others, not run on its own)."""
    if finder not in _robot_finders:
        _robot_finders.append(finder)


def robot_reaches(user) -> bool:
    """Whether some group robot can mention `user`: their community's or agency's as staff (a
    street officer: any of the street's communities), or one a registered finder knows of. A
    login with no such place has no robot at all."""
    if not getattr(user, "pk", None):
        return False
    scope = scope_of(user)
    with_robot = ~Q(robot_webhook_url="")
    places = [
        Community.objects.filter(
            any_of(pk__in=scope.community_ids, street__in=scope.street_ids), with_robot
        ),
        Agency.objects.filter(any_of(pk__in=scope.agency_ids), with_robot),
        *(finder(user) for finder in _robot_finders),
    ]
    # One query whichever place has the robot: the settings page costs the same every time.
    anywhere = Q(pk__in=[])
    for rows in places:
        anywhere |= Exists(rows)
    return get_user_model().objects.filter(anywhere, pk=user.pk).exists()


def channels_out_of_reach(user) -> set[str]:
    """The channels that cannot reach `user` now, whatever they choose: e-mail without an
    address, the group robot where none posts. (The in-app inbox always reaches a login.)"""
    out = set()
    if not user.email:
        out.add(Notification.Channel.EMAIL)
    if not robot_reaches(user):
        out.add(Notification.Channel.WEBHOOK)
    if not recipients_of([user])[0].mobile:
        out.add(Notification.Channel.SMS)
    return out
