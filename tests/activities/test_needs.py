"""Resident needs (微心愿, issue 12 point 2): publish, claim, give back, done, verify or send back,
withdraw; the verified hours count as voluntary service; scope and bad input."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.models import Activity, Concern, Need, NeedClaim, Participation
from activities.services import needs as services
from notifications.models import Notification
from reports.me import ledgers
from tests.activities.test_signup import reported_in

Kind = Notification.Kind
pytestmark = pytest.mark.django_db


def publish(world, by, **extra):
    fields = {
        "title": "帮独居老人买菜",
        "deadline": timezone.now() + dt.timedelta(days=3),
        "hours": "1.5",
        "place": "万寿小区3栋",
    }
    community = extra.pop("community", world.shengli)
    fields.update(extra)
    return services.need_publish(by=by, community=community, **fields)


def kinds(recipient=None):
    rows = Notification.objects.filter(channel=Notification.Channel.INAPP)
    if recipient is not None:
        rows = rows.filter(recipient=recipient)
    return sorted(rows.values_list("kind", flat=True))


def test_claim_done_verify_counts_as_voluntary_service(world, community_staff, member_user):
    need = publish(world, community_staff)
    assert need.state == Need.State.OPEN
    before = ledgers(
        Participation.objects.filter(member=world.sanxia_member), timezone.localdate().year
    )

    services.need_claim(need=need, user=member_user)
    need.refresh_from_db()
    assert need.state == Need.State.CLAIMED
    assert Kind.NEED_CLAIMED in kinds(community_staff)

    services.need_done(need=need, user=member_user, note="买了米和菜送上门", hours="2")
    need.refresh_from_db()
    assert need.state == Need.State.DONE
    assert Kind.NEED_DONE in kinds(community_staff)

    claim = need.claims.get()
    services.need_verify(need=need, by=community_staff, claim_id=claim.pk)
    need.refresh_from_db()
    claim.refresh_from_db()
    assert need.state == Need.State.VERIFIED
    assert claim.state == NeedClaim.State.VERIFIED
    assert Kind.NEED_VERIFIED in kinds(member_user)

    record = claim.participation
    assert record.status == Participation.Status.PRESENT and record.hours == Decimal("2")
    assert record.activity == need.activity
    assert record.activity.nature == Activity.Nature.VOLUNTEER
    after = ledgers(
        Participation.objects.filter(member=world.sanxia_member), timezone.localdate().year
    )
    assert after["volunteer"].hours - before["volunteer"].hours == Decimal("2")
    assert after["volunteer"].present - before["volunteer"].present == 1
    assert after["duty"] == before["duty"]
    # The community's figures count it too (figures.attendance over its participations).
    community = figures.attendance(Participation.objects.filter(activity__community=world.shengli))
    assert community.hours == Decimal("2") + world.shengli_participation.hours


def test_never_more_claimants_than_wanted_and_give_back_frees_the_place(
    world, django_user_model, community_staff
):
    need = publish(world, community_staff, claimants=2)
    a, b, c = reported_in(world, django_user_model, 3)
    services.need_claim(need=need, user=a.user)
    need.refresh_from_db()
    assert need.state == Need.State.OPEN
    services.need_claim(need=need, user=b.user)
    with pytest.raises(ValidationError):
        services.need_claim(need=need, user=c.user)
    with pytest.raises(ValidationError):
        services.need_claim(need=need, user=a.user)
    services.need_give_back(need=need, user=b.user)
    need.refresh_from_db()
    assert need.state == Need.State.OPEN
    services.need_claim(need=need, user=c.user)
    need.refresh_from_db()
    assert need.state == Need.State.CLAIMED
    assert need.claims.active().count() == 2


def test_a_need_past_its_deadline_is_claimed_no_more(world, community_staff, member_user):
    need = publish(world, community_staff)
    with pytest.raises(ValidationError, match="已过截止时间|deadline"):
        services.need_claim(need=need, user=member_user, now=need.deadline)
    assert not NeedClaim.objects.exists()
    services.need_claim(need=need, user=member_user, now=need.deadline - dt.timedelta(minutes=1))
    assert need.claims.active().count() == 1


def test_only_members_reported_in_there_claim(world, community_staff, other_member_user):
    need = publish(world, community_staff)
    with pytest.raises(ValidationError):
        services.need_claim(need=need, user=other_member_user)
    with pytest.raises(ValidationError):
        services.need_claim(need=need, user=community_staff)
    assert not NeedClaim.objects.exists()


def test_send_back_with_a_reason_then_done_again(world, community_staff, member_user):
    need = publish(world, community_staff)
    claim = services.need_claim(need=need, user=member_user)
    services.need_done(need=need, user=member_user, note="做了", hours=1)
    with pytest.raises(ValidationError):
        services.need_send_back(need=need, by=community_staff, claim_id=claim.pk, reason=" ")
    services.need_send_back(need=need, by=community_staff, claim_id=claim.pk, reason="照片不清楚")
    claim.refresh_from_db()
    need.refresh_from_db()
    assert claim.state == NeedClaim.State.CLAIMED and claim.sent_back_reason == "照片不清楚"
    assert need.state == Need.State.CLAIMED
    assert Kind.NEED_SENT_BACK in kinds(member_user)
    assert not Participation.objects.filter(
        member=world.sanxia_member, activity__need=need
    ).exists()


def test_withdraw_tells_the_claimant_and_needs_a_reason(world, community_staff, member_user):
    need = publish(world, community_staff)
    services.need_claim(need=need, user=member_user)
    with pytest.raises(ValidationError):
        services.need_withdraw(need=need, by=community_staff, reason="")
    services.need_withdraw(need=need, by=community_staff, reason="老人已由家属照顾")
    need.refresh_from_db()
    assert need.state == Need.State.WITHDRAWN
    assert Kind.NEED_WITHDRAWN in kinds(member_user)
    with pytest.raises(ValidationError):
        services.need_done(need=need, user=member_user, note="x", hours=1)
    with pytest.raises(ValidationError):
        services.need_withdraw(need=need, by=community_staff, reason="again")


@pytest.mark.parametrize("hours", ["0", "-1", "24.5", "abc", "NaN", "Infinity", None])
def test_hours_out_of_range_are_refused(world, community_staff, member_user, hours):
    with pytest.raises(ValidationError):
        publish(world, community_staff, hours=hours)
    need = publish(world, community_staff, title="另一个")
    services.need_claim(need=need, user=member_user)
    with pytest.raises(ValidationError):
        services.need_done(need=need, user=member_user, note="做了", hours=hours)
    assert need.claims.get().state == NeedClaim.State.CLAIMED


def test_grid_worker_publishes_and_other_staff_cannot(
    world, grid_worker, other_community_staff, member_user
):
    need = publish(world, grid_worker)
    assert need.published_by == grid_worker
    with pytest.raises(ValidationError):
        publish(world, other_community_staff)
    services.need_claim(need=need, user=member_user)
    services.need_done(need=need, user=member_user, note="做了", hours=1)
    with pytest.raises(ValidationError):
        services.need_verify(need=need, by=other_community_staff, claim_id=need.claims.get().pk)


# --- Pages ------------------------------------------------------------------------------------


def test_pages_claim_done_verify_with_history(client, world, community_staff, member_user):
    concern = Concern.objects.create(
        community=world.shengli, title="楼道灯坏了", reported_by=member_user, location="3栋"
    )
    client.force_login(community_staff)
    page = client.get(reverse("activities:concern_detail", args=[concern.pk]))
    assert 'data-testid="concern-to-need"' in page.content.decode()
    form = client.get(reverse("activities:need_create") + f"?concern={concern.pk}")
    assert "楼道灯坏了" in form.content.decode()
    deadline = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("activities:need_create"),
        {
            "concern": concern.pk,
            "title": "修楼道灯",
            "deadline": deadline,
            "claimants": 1,
            "hours": 1,
        },
    )
    need = Need.objects.get()
    assert response.status_code == 302 and need.concern == concern
    url = need.get_absolute_url()

    client.force_login(member_user)
    listed = client.get(reverse("activities:need_list")).content.decode()
    assert "修楼道灯" in listed
    assert client.post(url, {"action": "claim"}).status_code == 302
    bad = client.post(url, {"action": "done", "done-note": "修好了", "done-hours": "99"})
    assert bad.status_code == 200 and "24" in bad.content.decode()
    client.post(url, {"action": "done", "done-note": "修好了", "done-hours": "0.5"})
    claim = need.claims.get()
    assert claim.state == NeedClaim.State.DONE

    client.force_login(community_staff)
    client.post(url, {"action": "verify", "claim": claim.pk})
    need.refresh_from_db()
    assert need.state == Need.State.VERIFIED
    text = client.get(url).content.decode()
    assert text.count('data-testid="timeline-entry"') >= 4
    assert 'data-state="verified"' in text

    # The member's attendance record it gave says why it was written, in words.
    claim.refresh_from_db()
    client.force_login(member_user)
    record = client.get(reverse("activities:participation_detail", args=[claim.participation.pk]))
    text = record.content.decode()
    assert "微心愿已核实" in text and "need verified" not in text


@pytest.mark.parametrize(
    "post",
    [
        {},
        {"action": "nonsense"},
        {"action": "verify", "claim": "x"},
        {"action": "verify", "claim": "999999"},
        {"action": "send_back", "claim": "1"},
        {"action": "withdraw"},
        {"action": "done", "done-hours": "1e9"},
        {"action": "give_back"},
    ],
)
def test_hostile_posts_are_refused_without_500(client, world, community_staff, post):
    need = publish(world, community_staff)
    client.force_login(community_staff)
    response = client.post(need.get_absolute_url(), post)
    assert response.status_code in (200, 302)
    need.refresh_from_db()
    assert need.state == Need.State.OPEN
    assert not Participation.objects.filter(activity__need=need).exists()


def test_other_scopes_get_404_everywhere(
    client, world, community_staff, other_community_staff, other_member_user, agency_office
):
    need = publish(world, community_staff)
    concern = Concern.objects.create(
        community=world.shengli, title="楼道灯坏了", reported_by=community_staff
    )
    for user in (other_community_staff, other_member_user):
        client.force_login(user)
        assert client.get(need.get_absolute_url()).status_code == 404
        for action in ("claim", "withdraw", "verify", "done", "give_back", "send_back"):
            response = client.post(
                need.get_absolute_url(), {"action": action, "withdraw-reason": "x"}
            )
            assert response.status_code == 404
        assert (
            client.get(reverse("activities:need_create") + f"?concern={concern.pk}").status_code
            == 404
        )
        assert "帮独居老人买菜" not in client.get(reverse("activities:need_list")).content.decode()
    client.force_login(other_community_staff)
    assert client.get(reverse("activities:need_create") + "?concern=abc").status_code == 404
    need.refresh_from_db()
    assert need.state == Need.State.OPEN and not need.claims.exists()


def test_a_member_cannot_verify_or_withdraw(client, world, community_staff, member_user):
    need = publish(world, community_staff)
    services.need_claim(need=need, user=member_user)
    services.need_done(need=need, user=member_user, note="做了", hours=1)
    client.force_login(member_user)
    claim = need.claims.get()
    assert (
        client.post(need.get_absolute_url(), {"action": "verify", "claim": claim.pk}).status_code
        == 403
    )
    assert (
        client.post(
            need.get_absolute_url(), {"action": "withdraw", "withdraw-reason": "x"}
        ).status_code
        == 403
    )
    claim.refresh_from_db()
    assert claim.state == NeedClaim.State.DONE


def test_the_scopes_sql_reference_counts_what_visible_to_shows(
    world,
    community_staff,
    other_community_staff,
    street_officer,
    agency_office,
    member_user,
    other_member_user,
    city_admin,
):
    from xiachen.bench.scopes import reference_count

    publish(world, community_staff)
    publish(world, other_community_staff, community=world.shenzhen, title="深圳路的")
    claimed = publish(world, community_staff, title="认领后搬走")
    services.need_claim(need=claimed, user=member_user)
    people = (
        community_staff,
        other_community_staff,
        street_officer,
        agency_office,
        member_user,
        other_member_user,
        city_admin,
    )
    for user in people:
        assert reference_count(Need, user) == Need.objects.visible_to(user).count(), user
    assert Need.objects.visible_to(other_member_user).get().title == "深圳路的"
    assert Need.objects.visible_to(agency_office).count() == 0


def test_a_claim_refused_is_said_in_chinese(client, world, django_user_model, community_staff):
    need = publish(world, community_staff)
    first, second = reported_in(world, django_user_model, 2)
    services.need_claim(need=need, user=first.user)
    client.force_login(second.user)
    response = client.post(need.get_absolute_url(), {"action": "claim"}, follow=True)
    assert response.status_code == 200
    assert "此微心愿当前不可认领" in response.content.decode()
    assert need.claims.active().count() == 1
