"""The rule of who a channel reaches, in Python (`channels_for`, which writes the rows) and in SQL
(`reachable`, which lets a reminder rule leave out those recorded as unreachable): the same
answer for every choice of channels, with and without an e-mail address, a login, a robot."""

import itertools

import pytest

from communities.models import Agency
from members.models import Member
from notifications.models import NotificationPreference
from notifications.reach import channels_for, preferences_for, reachable

ROBOT_URL = "https://robot.example.org/send?key=test"
CHOICES = [None, *itertools.product((False, True), repeat=4)]  # None: no preference row


@pytest.mark.parametrize("robot", [False, True])
def test_sql_and_python_agree_for_every_choice(world, django_user_model, robot):
    world.sanxia.robot_webhook_url = ROBOT_URL if robot else ""
    world.sanxia.save()
    cases = {}
    combinations = itertools.product(CHOICES, ("", "a@example.org"), (True, False))
    for n, (choice, email, has_mobile) in enumerate(combinations):
        user = django_user_model.objects.create_user(username=f"reach{n}", email=email)
        if choice is not None:
            inapp, by_mail, webhook, sms = choice
            NotificationPreference.objects.create(
                user=user, inapp=inapp, email=by_mail, webhook=webhook, sms=sms
            )
        # A member whose contacts were cleared has no mobile: text messages cannot reach them.
        # (One member without a mobile per agency: the roster keeps mobiles unique in each.)
        mobile = f"1370000{n:04d}" if has_mobile else ""
        agency = world.sanxia
        if not has_mobile:
            agency = Agency.objects.create(
                name=f"单位{n}", robot_webhook_url=world.sanxia.robot_webhook_url
            )
        member = Member.objects.create(agency=agency, name=f"成员{n}", mobile=mobile, user=user)
        cases[member.pk] = (choice, email, has_mobile)
    offline = Member.objects.create(agency=world.sanxia, name="无登录", mobile="13799999999")
    cases[offline.pk] = ("no login", "")

    members = Member.objects.filter(pk__in=cases).select_related(
        "agency", "user__notification_preference"
    )
    in_sql = dict(
        members.annotate(reached=reachable("user", "agency__robot_webhook_url")).values_list(
            "pk", "reached"
        )
    )
    preferences = preferences_for((m.user for m in members if m.user), as_fetched=True)
    in_python = {
        m.pk: bool(
            channels_for(
                m.as_recipient(),
                preferences.get(m.user_id),
                m.agency.robot_webhook_url,
            )[0]
        )
        for m in members
    }

    assert in_sql == in_python
    assert in_python[offline.pk] is robot
    assert set(in_python.values()) == {True, False}


def test_preferences_fetched_with_the_login_cost_no_query(
    world, member_user, django_assert_num_queries
):
    NotificationPreference.objects.create(user=member_user, email=False)
    member = Member.objects.select_related("user__notification_preference").get(user=member_user)

    with django_assert_num_queries(0):
        fetched = preferences_for([member.user], as_fetched=True)
    with django_assert_num_queries(1):
        fresh = preferences_for([member.user])

    assert fetched[member_user.pk].email is False
    assert fresh[member_user.pk].email is False
