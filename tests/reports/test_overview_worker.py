"""The overviews' refresh run by a real Celery worker from the configured broker (the file-system
broker on SQLite, Redis beside PostgreSQL), as beat has it run every OVERVIEW_REFRESH_MINUTES."""

import datetime as dt

import pytest
from django.utils import timezone

from activities.models import Activity, ActivityType, Participation
from communities.models import Agency, Community, Street
from members.models import Member
from reports.models import AgencyMonth, CommunityMonth, OverviewRefresh
from tests.notifications.test_delivery import activity_types, workers  # noqa: F401


@pytest.mark.celery_worker
def test_a_worker_rebuilds_the_overview_figures(activity_types, workers):  # noqa: F811
    street = Street.objects.create(name="万寿桥街道")
    community = Community.objects.create(street=street, name="胜利一路社区")
    agency = Agency.objects.create(name="三峡旅游新区管委会")
    members = [
        Member.objects.create(agency=agency, name=f"党员{n}", mobile=f"1390000000{n}")
        for n in range(3)
    ]
    starts = timezone.now() - dt.timedelta(days=1)
    activity = Activity.objects.create(
        community=community,
        type=ActivityType.objects.first(),
        title="环境清扫",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=2),
    )
    present, absent = Participation.Status.PRESENT, Participation.Status.ABSENT
    for member, status in zip(members, [present, present, absent], strict=True):
        Participation.objects.create(
            activity=activity,
            member=member,
            status=status,
            hours=2 if status == present else None,
            source=Participation.Source.ROLL_CALL,
        )
    assert not OverviewRefresh.objects.exists()

    worker = workers.start()
    task = workers.publish("reports.refresh_overviews")
    worker.wait_for(f"Task reports.refresh_overviews[{task}] succeeded", timeout=60)

    month = timezone.localtime(starts).date().replace(day=1)
    assert list(
        CommunityMonth.objects.values_list("community", "month", "activities", "present", "hours")
    ) == [(community.pk, month, 1, 2, 4)]
    assert list(AgencyMonth.objects.values_list("agency", "present", "absent", "leaves")) == [
        (agency.pk, 2, 1, 0)
    ]
    assert OverviewRefresh.objects.count() == 1
