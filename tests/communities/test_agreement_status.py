"""An agreement's status as shown: one definition on the model, its SQL twin, and in_force().

DESIGN.md: "An agreement signed for a term that has not begun is shown as 待生效 and counts
nowhere until its start date."
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from activities import figures
from activities.forms.activity import ActivityForm
from communities.models import Agreement
from communities.services import agreement_sign, agreement_terminate

Shown = Agreement.EffectiveStatus


def today():
    return timezone.localdate()


@pytest.fixture
def signed_for_later(world, superuser):
    """园林局 and 胜利一路社区 signed today for a year that starts in ten days."""
    draft = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-LATER-1",
        starts_on=today() + dt.timedelta(days=10),
        ends_on=today() + dt.timedelta(days=375),
    )
    return agreement_sign(agreement=draft, by=superuser)


def shown_by_sql(agreement, day):
    return Agreement.objects.with_effective_status(day).get(pk=agreement.pk).effective_status


def in_force_on(agreement, day):
    return Agreement.objects.in_force(day).filter(pk=agreement.pk).exists()


def test_it_is_pending_until_its_start_date_then_in_force(signed_for_later):
    agreement = signed_for_later
    start, end = agreement.starts_on, agreement.ends_on
    expected = {
        today(): Shown.PENDING,
        start - dt.timedelta(days=1): Shown.PENDING,
        start: Shown.ACTIVE,
        end: Shown.ACTIVE,
        end + dt.timedelta(days=1): Shown.EXPIRED,
    }
    for day, status in expected.items():
        assert agreement.effective_status_on(day) == status, day
        assert shown_by_sql(agreement, day) == status, day
        assert in_force_on(agreement, day) == (status == Shown.ACTIVE), day
    assert agreement.effective_status == Shown.PENDING
    assert agreement.status == Agreement.Status.ACTIVE  # stored as signed; nothing to run


@pytest.mark.parametrize("stored", Agreement.Status.values)
def test_the_model_the_sql_and_in_force_agree_on_every_day(world, stored):
    start = today()
    agreement = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shenzhen,
        number="GJ-ANY",
        starts_on=start,
        ends_on=start + dt.timedelta(days=30),
        status=stored,
        signed_on=None if stored == Agreement.Status.DRAFT else start - dt.timedelta(days=5),
        termination_reason="merged" if stored == Agreement.Status.TERMINATED else "",
    )
    for offset in (-5, -1, 0, 1, 30, 31, 60):
        day = start + dt.timedelta(days=offset)
        by_model = agreement.effective_status_on(day)
        assert shown_by_sql(agreement, day) == by_model, (stored, offset)
        assert in_force_on(agreement, day) == (by_model == Shown.ACTIVE), (stored, offset)


def test_the_changelist_shows_it_as_pending_and_filters_it(signed_for_later, client, superuser):
    client.force_login(superuser)
    changelist = reverse("admin:communities_agreement_changelist")
    html = client.get(changelist).content.decode()
    assert "agreement-status-pending" in html
    assert "待生效" in html

    def numbers(status):
        result = client.get(changelist, {"effective_status": status}).context["cl"].result_list
        return {a.number for a in result}

    assert numbers("pending") == {"GJ-LATER-1"}
    assert numbers("active") == {"GJ-TEST-001"}


def test_its_page_shows_it_as_pending_and_it_can_be_terminated(signed_for_later, client, superuser):
    client.force_login(superuser)
    html = client.get(
        reverse("admin:communities_agreement_change", args=[signed_for_later.pk])
    ).content.decode()
    assert "agreement-status-pending" in html
    assert reverse("admin:communities_agreement_terminate", args=[signed_for_later.pk]) in html

    agreement_terminate(agreement=signed_for_later, by=superuser, reason="单位调整")
    signed_for_later.refresh_from_db()
    assert signed_for_later.effective_status == Shown.TERMINATED


def test_the_agency_home_shows_it_as_pending(signed_for_later, client, other_agency_office):
    client.force_login(other_agency_office)  # 园林局's party office
    html = client.get("/").content.decode()
    assert "GJ-LATER-1" in html
    assert "待生效" in html
    assert "生效中" not in html


def test_it_counts_nowhere_before_its_start(signed_for_later, world):
    counts = figures.agreement_counts(Agreement.objects.all())
    assert counts["active"] == 1  # GJ-TEST-001 only
    assert not in_force_on(signed_for_later, today())

    offered = dict(ActivityForm(community=world.shengli).fields["agreement"].choices)
    assert world.agreement.pk in offered
    assert signed_for_later.pk not in offered


def test_it_counts_from_its_start_date(signed_for_later, world):
    start = signed_for_later.starts_on
    counts = figures.agreement_counts(Agreement.objects.all(), start)
    assert counts["active"] == 2
    assert in_force_on(signed_for_later, start)


def test_the_activity_form_offers_it_on_its_start_date(world, superuser):
    draft = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-TODAY-1",
        starts_on=today(),
        ends_on=today() + dt.timedelta(days=365),
    )
    agreement_sign(agreement=draft, by=superuser)
    offered = dict(ActivityForm(community=world.shengli).fields["agreement"].choices)
    assert draft.pk in offered


def test_signing_beside_a_pending_agreement_of_the_pair_is_refused_not_a_500(
    signed_for_later, world, client, superuser
):
    draft = Agreement.objects.create(
        agency=world.yuanlin,
        community=world.shengli,
        number="GJ-LATER-2",
        starts_on=today(),
        ends_on=today() + dt.timedelta(days=30),
    )
    client.force_login(superuser)
    sign = reverse("admin:communities_agreement_sign", args=[draft.pk])
    response = client.post(sign, {"signed_on": today().isoformat()})
    assert response.status_code == 200
    assert "GJ-LATER-1" in response.content.decode()  # names the agreement in the way
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT

    changelist = reverse("admin:communities_agreement_changelist")
    response = client.post(
        changelist, {"action": "sign_selected", "_selected_action": [draft.pk]}, follow=True
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT
