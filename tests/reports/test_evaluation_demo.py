"""The demo's annual evaluation: ratings by both demo communities within the cap, and one open
objection by a demo member that the community's staff can answer; the demo's other figures are
checked by tests/xiachen/test_demo.py."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Q

from reports.models import Evaluation, EvaluationObjection
from reports.services import excellent_allowed


@pytest.fixture
def demo(db):
    call_command("load_demo", today="2026-11-27", stdout=StringIO())


def test_both_demo_communities_rated_within_the_cap(demo):
    per_community = Evaluation.objects.values("community__name", "year").annotate(
        rated=Count("pk"), excellent=Count("pk", filter=Q(rating=Evaluation.Rating.EXCELLENT))
    )
    assert {row["community__name"] for row in per_community} == {"胜利一路社区", "深圳路社区"}
    for row in per_community:
        assert row["year"] == 2026
        assert row["excellent"] <= excellent_allowed(row["rated"])


def test_the_demo_member_has_an_objection_for_the_staff_to_answer(demo, client):
    users = get_user_model().objects
    objection = EvaluationObjection.objects.open().get()
    assert objection.raised_by == users.get(username="yuanlin_member")
    client.force_login(users.get(username="shenzhen_staff"))
    assert client.get(f"/objections/{objection.pk}/").status_code == 200
    client.force_login(users.get(username="shengli_staff"))
    assert client.get(f"/objections/{objection.pk}/").status_code == 404
